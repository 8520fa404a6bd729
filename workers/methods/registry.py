"""The registry of methods: name parsing and the per-method facts the sweep reads.

`workers.methods` registers the built-in methods, one line each; a new method is one
file with a `MethodSpec` subclass plus one `register(...)` line there.
"""

from __future__ import annotations

from collections.abc import Callable

from workers.methods.base import Method, MethodSpec, UnknownMethodError

_METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` under its family name; a family registered twice is an error."""
    family = spec.family
    if not family or "/" in family:
        raise ValueError(f"method family {family!r} must be a non-empty name without '/'")
    if family in _METHODS:
        raise ValueError(f"method family {family!r} is already registered")
    _METHODS[family] = spec
    return spec


def unregister(family: str) -> None:
    """Remove a family (tests that register a toy method clean up with this)."""
    _METHODS.pop(family, None)


def registered() -> tuple[MethodSpec, ...]:
    """Every registered method, in registration order."""
    return tuple(_METHODS.values())


def method_help() -> str:
    """The fix part of an unknown-method message: every way to name a method."""
    return "use " + ", ".join(spec.spelling for spec in _METHODS.values())


def parse_method(name: str, check_files: bool = True) -> Method:
    """Parse a method name; raise `UnknownMethodError` naming the fix."""
    if not isinstance(name, str) or not name:
        raise UnknownMethodError(f"method {name!r} is empty: {method_help()}")
    family, slash, arg = name.partition("/")
    spec = _METHODS.get(family)
    if spec is None or spec.takes_arg != bool(slash):
        raise UnknownMethodError(f"unknown method {name!r}: {method_help()}")
    if spec.takes_arg:
        return spec.parse_arg(name, arg, check_files, method_help())
    return Method(spec, name)


def structure_file(name: str) -> str | None:
    """The structure file a method name points at (``manual/<file>.json``), or None;
    None too for a name that is not a method (its parse reports that)."""
    family, slash, arg = name.partition("/")
    spec = _METHODS.get(family)
    if spec is None or not slash or not spec.takes_arg:
        return None
    return spec.structure_file(arg)


def with_structure_file(name: str, place: Callable[[str], str]) -> str:
    """``name`` with its structure file replaced by ``place(file)`` (e.g. made absolute)."""
    path = structure_file(name)
    if path is None:
        return name
    family = name.partition("/")[0]
    return f"{family}/{place(path)}"


def method_fields() -> frozenset[str]:
    """Fields that only some methods use (the union of every method's `fields`)."""
    return frozenset().union(*(spec.fields for spec in _METHODS.values()))


def applies_to(field: str, method: Method) -> bool:
    """True when ``field`` can change the outcome of a trial of ``method``."""
    return field in method.spec.fields or field not in method_fields()
