"""Package names that import their submodule on first use: the one helper behind
`search_space`, `workers.data` and `workers.subspace`, whose light parts (budgets,
structures, tasks, the subspace config) must load without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module-level ``__getattr__`` and ``__dir__``: ``exports`` maps each
    submodule to the names it exports; a name is imported when first asked for, then kept
    in the package's ``namespace`` (its ``globals()``)."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *module_of])

    return getattr_, dir_
