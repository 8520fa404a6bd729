"""`load_sweep`: YAML file -> validated `SweepConfig`, or every problem at once.

Problems come from the YAML parser and from the sweep model's validation (its fields,
then its rules across sections); each becomes one ``<yaml.path>: <problem>; <fix>``
line, and the lines are listed in the order their keys appear in the file. Every sweep
kind (`validate_as`: `SweepConfig`, `SubspaceSweepConfig`) reports its problems this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.sweep.config import SweepConfig
from orchestrator.sweep.distributions import DISTRIBUTION_KEYS, DISTRIBUTION_TAGS
from orchestrator.sweep.errors import Loc, SweepValidationError, describe_error, yaml_path
from orchestrator.sweep.problems import PROBLEM_TYPE
from orchestrator.sweep.sequential_seeds import SequentialSeeds
from orchestrator.sweep.sweep_base import SweepBase
from orchestrator.sweep.trial_fields import training_fields
from orchestrator.sweep.yaml_source import parse_yaml, read_yaml

Kind = TypeVar("Kind", bound=SweepBase)


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file; raise `SweepValidationError` listing every problem."""
    return load_as(SweepConfig, path)


def load_as(kind: type[Kind], path: str | Path) -> Kind:
    """`load_sweep` for any sweep kind: relative paths resolve against the file's folder."""
    source = Path(path)
    return validate_as(kind, read_yaml(source), source.resolve().parent, str(source))


def parse_sweep(text: str, base_dir: str | Path, source: str = "<string>") -> SweepConfig:
    """Validate sweep YAML text; relative paths resolve against `base_dir`."""
    return validate_sweep(parse_yaml(text, source), base_dir=Path(base_dir), source=source)


def validate_sweep(raw: dict[str, Any], base_dir: Path, source: str) -> SweepConfig:
    """Validate already-parsed sweep data (see `load_sweep`); `base_dir` is where relative
    paths resolve, `source` names the file in messages and gives the default name."""
    return validate_as(SweepConfig, raw, base_dir, source)


def validate_as(kind: type[Kind], raw: dict[str, Any], base_dir: Path, source: str) -> Kind:
    """`validate_sweep` for any sweep kind: the validated model, or `SweepValidationError`
    with one ``<yaml.path>: <problem>; <fix>`` line per problem, in file order."""
    try:
        return kind.model_validate(raw, context={"base_dir": base_dir.resolve(), "source": source})
    except ValidationError as err:
        problems = [_line(item, kind) for item in err.errors()]
    raise SweepValidationError(source, _in_file_order(_unique(problems), list(raw)))


def _line(item: ErrorDetails, kind: type[BaseModel]) -> str:
    loc = tuple(item["loc"])
    if item["type"] == PROBLEM_TYPE:
        return f"{yaml_path(loc)}: {item['msg']}"
    return describe_error(item, _clean_loc(loc), _allowed_keys(loc, kind))


def _clean_loc(loc: Loc) -> Loc:
    """Drop the union tag pydantic inserts: ``search_space.x.log_uniform.min`` -> ``search_space.x.min``."""
    if len(loc) >= 3 and loc[0] == "search_space" and loc[2] in DISTRIBUTION_TAGS:
        return loc[:2] + loc[3:]
    return loc


def _allowed_keys(loc: Loc, kind: type[BaseModel]) -> Sequence[str]:
    """The keys allowed in the mapping that holds the last element of `loc` (tags kept)."""
    parent = loc[:-1]
    if not parent:
        return list(kind.model_fields)
    field = kind.model_fields.get(str(parent[0])) if len(parent) == 1 else None
    section = field.annotation if field is not None else None
    if isinstance(section, type) and issubclass(section, BaseModel):
        return list(section.model_fields)
    if parent == ("seeds",) and issubclass(kind, SweepConfig):
        return list(SequentialSeeds.model_fields)
    if parent[0] == "training":
        return training_fields()
    if len(parent) == 3 and parent[0] == "search_space":
        return DISTRIBUTION_KEYS.get(str(parent[2]), ())
    return ()


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


def _in_file_order(problems: list[str], keys: list[Any]) -> list[str]:
    """Sort by the position of each problem's top-level key in the file (stable)."""
    order = {str(key): index for index, key in enumerate(keys)}

    def position(line: str) -> int:
        head = line.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
        return order.get(head, len(order))

    return sorted(problems, key=position)
