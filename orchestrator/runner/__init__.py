"""Running sweeps: Ray for trials, Optuna per cell, MLflow for the records.

Public API: `run_sweep_file(path, ...)` (what `s3delta run` calls), plus
`resolve_settings` and `run_sweep` for callers that already hold a loaded sweep.
"""

from __future__ import annotations

from orchestrator.runner.driver import SweepAlreadyRunError, SweepOutcome, run_sweep
from orchestrator.runner.entry import run_sweep_file
from orchestrator.runner.lock import SweepLockedError
from orchestrator.runner.settings import RunSettings, resolve_settings

__all__ = [
    "RunSettings",
    "SweepAlreadyRunError",
    "SweepLockedError",
    "SweepOutcome",
    "resolve_settings",
    "run_sweep",
    "run_sweep_file",
]
