"""`run_sweep_file`: load and validate a sweep file, resolve where it writes, run it."""

from __future__ import annotations

from pathlib import Path

from orchestrator.runner.driver import DEFAULT_MAX_RETRIES, SweepOutcome, run_sweep
from orchestrator.runner.settings import resolve_settings


def run_sweep_file(
    path: str | Path,
    *,
    run_dir: str | Path | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    resume: bool = False,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> SweepOutcome:
    """Validate `path` (raising `SweepValidationError`) and run the sweep it describes."""
    from orchestrator.sweep import load_sweep

    sweep_path = Path(path).expanduser().resolve()
    sweep = load_sweep(sweep_path)
    plan = sweep.plan()
    settings = resolve_settings(
        sweep,
        run_dir=run_dir or sweep.run_dir,
        tracking_uri=tracking_uri,
        storage_url=storage_url,
        address=address,
    )
    return run_sweep(sweep, plan, sweep_path, settings, resume=resume, max_retries=max_retries)

