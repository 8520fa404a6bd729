"""The subspace experiment's stages as a worker (no Ray, no MLflow): `run_subspace`."""

from workers.subspace.run import result_to_dict, run_subspace
from workers.subspace.setup import SubspaceSetupError, check_config
from workers.subspace.types import DetOutcome, SubspaceConfig, SubspaceResult

__all__ = [
    "DetOutcome",
    "SubspaceConfig",
    "SubspaceResult",
    "SubspaceSetupError",
    "check_config",
    "result_to_dict",
    "run_subspace",
]
