"""The subspace experiment's stages as a worker (no Ray, no MLflow): `run_subspace`.

Names load on first use, so the torch-free parts (`types`, `checks`) can be imported by
the sweep validator without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "DetOutcome": "types",
    "SubspaceConfig": "types",
    "SubspaceResult": "types",
    "SubspaceSetupError": "checks",
    "check_config": "setup",
    "result_to_dict": "run",
    "run_subspace": "run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'workers.subspace' has no attribute {name!r}")
    return getattr(import_module(f"workers.subspace.{_WHERE[name]}"), name)
