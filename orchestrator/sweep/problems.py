"""Problem lines as pydantic errors and back, so `SweepConfig`'s own validators can report
every problem of a file at once, beside pydantic's field errors.

A rule across sections (`checks`, `setup_checks`) yields ``<yaml.path>: <what>; <fix>``
lines; `SweepConfig` raises them as errors of type ``sweep_problem`` at their YAML
location, merged with the errors pydantic found in the fields, and `load` turns each
back into the same line.
"""

from __future__ import annotations

import re
import typing

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from orchestrator.sweep.errors import Loc, yaml_path

PROBLEM_TYPE = "sweep_problem"
_KNOWN_TYPES = frozenset(typing.get_args(core_schema.ErrorType))
_PART = re.compile(r"([^.\[]+)|\[(\d+)\]")


def _loc_of(path: str) -> Loc:
    """``search_space.x.values[2]`` -> ``('search_space', 'x', 'values', 2)``; a path that
    would not print back the same (odd keys) stays one element."""
    loc: Loc = tuple(int(index) if index else name for name, index in _PART.findall(path))
    return loc if yaml_path(loc) == path else (path,)


def problem_errors(lines: list[str]) -> list[InitErrorDetails]:
    """One ``sweep_problem`` error per ``<yaml.path>: <message>`` line."""
    errors = []
    for line in lines:
        path, _, message = line.partition(": ")
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError(PROBLEM_TYPE, "{message}", {"message": message}),
                loc=_loc_of(path),
                input=None,
            )
        )
    return errors


def reraisable(err: ValidationError) -> list[InitErrorDetails]:
    """The errors of `err`, to raise again together with others (types and context kept)."""
    details = []
    for item in err.errors():
        kind = item["type"]
        detail = InitErrorDetails(type=kind, loc=item["loc"], input=item["input"])
        if kind not in _KNOWN_TYPES:
            detail["type"] = PydanticCustomError(kind, item["msg"], None)
        elif "ctx" in item:
            detail["ctx"] = item["ctx"]
        details.append(detail)
    return details


def raise_errors(title: str, errors: list[InitErrorDetails]) -> None:
    """Raise `errors` as one `ValidationError` (nothing when empty)."""
    if errors:
        raise ValidationError.from_exception_data(title, errors)
