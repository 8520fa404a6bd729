"""The subspace experiment's stages as a worker (no Ray, no MLflow): `run_subspace`.

Names load on first use, so the torch-free parts (`types`, `checks`) can be imported by
the sweep validator without importing torch.
"""

from __future__ import annotations

from search_space.lazy import lazy_exports

# submodule -> the names it exports here
_EXPORTS: dict[str, tuple[str, ...]] = {
    "types": ("DetOutcome", "SubspaceConfig", "SubspaceResult"),
    "checks": ("SubspaceSetupError",),
    "setup": ("check_config",),
    "run": ("result_to_dict", "run_subspace"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
