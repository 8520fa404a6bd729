"""Turn validation failures into one line per problem: ``<yaml.path>: <what is wrong>; <fix>``.

Pydantic's messages ("Input should be a valid integer") name neither the YAML field
in the user's terms nor the fix; this module rewrites them so every line can be
acted on without reading the source.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from collections.abc import Sequence
from typing import Any

from pydantic_core import ErrorDetails

from orchestrator.sweep.distributions import DISTRIBUTION_HELP

Loc = tuple[str | int, ...]


MAX_LINE = 1200


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """`text` on one line, shortened in the middle to `limit` characters (the fix is at the end)."""
    flat = re.sub(r"\s*\n\s*", " ", text)
    if len(flat) <= limit:
        return flat
    keep = (limit - 5) // 2
    return f"{flat[:keep]} ... {flat[-keep:]}"


class SweepValidationError(ValueError):
    """A sweep file that cannot run; ``problems`` holds one actionable line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = one_line(source)
        problems = [one_line(line) for line in problems]
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(
            f"invalid sweep file {source} ({count}):\n"
            + "\n".join(f"  {line}" for line in problems)
        )


def yaml_path(loc: Loc) -> str:
    """``('search_space', 'delta_lr', 'min')`` -> ``search_space.delta_lr.min``; ints index lists."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 2


def short(value: Any) -> str:
    """A repr of `value` cut to about 60 characters without formatting all of it first."""
    shown = _SHORT.repr(value)
    return shown if len(shown) <= 64 else shown[:57] + "..."


def _got(value: Any) -> str:
    shown = short(value)
    return (
        f"got {_type_name(value)} {shown}"
        if not isinstance(value, dict | list)
        else (f"got a {_type_name(value)}")
    )


_TYPE_FIXES: dict[str, tuple[str, str]] = {
    "int_type": ("expected a whole number", "write e.g. 3 (no quotes, no decimal point)"),
    "int_parsing": ("expected a whole number", "write e.g. 3 (no quotes, no decimal point)"),
    "int_from_float": ("expected a whole number", "drop the fractional part"),
    "float_type": ("expected a number", "write e.g. 0.5 or 1e-4 (no quotes)"),
    "float_parsing": ("expected a number", "write e.g. 0.5 or 1e-4 (no quotes)"),
    "string_type": ("expected a text value", "write it as a string, e.g. in quotes"),
    "bool_type": ("expected true or false", "write true or false"),
    "list_type": ("expected a list", "write a YAML list such as [a, b] or one '- item' per line"),
    "dict_type": ("expected a mapping", "write `key: value` entries under it"),
    "model_type": ("expected a mapping", "write `key: value` entries under it"),
    "model_attributes_type": ("expected a mapping", "write `key: value` entries under it"),
}


def describe_error(error: ErrorDetails, loc: Loc, allowed: Sequence[str] = ()) -> str:
    """One line for one pydantic error at `loc`; `allowed` lists the keys valid beside it."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    path = yaml_path(loc)
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        return f"{path}: unknown key; {hint}{listing}"
    if kind == "distribution_unknown":
        if not isinstance(value, dict):
            return f"{path}: expected a distribution mapping, {_got(value)}; {DISTRIBUTION_HELP}"
        given = value.get("distribution")
        what = f"unknown distribution {given!r}" if given is not None else "no distribution given"
        return f"{path}: {what}; {DISTRIBUTION_HELP}"
    if kind == "missing":
        where = f"under {yaml_path(loc[:-1])}" if len(loc) > 1 else "at the top level"
        return f"{path}: required but missing; add `{loc[-1]}:` {where}"
    if kind in _TYPE_FIXES:
        what, fix = _TYPE_FIXES[kind]
        return f"{path}: {what}, {_got(value)}; {fix}"
    if kind == "string_too_long":
        limit = ctx.get("max_length")
        size = f"{len(value):,}" if isinstance(value, str) else "too many"
        return f"{path}: is {size} characters long, more than {limit}; shorten it to at most {limit}"
    if kind == "string_too_short":
        return f"{path}: must not be empty; write a non-empty value"
    if kind == "too_short":
        return f"{path}: must not be empty; list at least {ctx.get('min_length', 1)} item(s)"
    if kind == "literal_error":
        return f"{path}: {_got(value)}; use one of {ctx.get('expected')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return (
            f"{path}: must be {bound} {limit}, {_got(value)}; change it to a value {bound} {limit}"
        )
    if kind == "string_pattern_mismatch":
        return f"{path}: {_got(value)} does not match {ctx.get('pattern')}; use letters, digits, '.', '_' or '-'"
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error["msg"]))
        return f"{path}: {message}"
    message = error["msg"]
    if "custom" not in kind:
        message = f"{message} ({_got(value)})"
    return f"{path}: {message}"
