"""Running a search sweep from its file: load and validate it, resolve where it writes,
and drive it under the guards every kind shares (`launch.py`)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.runner.driver import DEFAULT_MAX_RETRIES, run_sweep
from orchestrator.runner.launch import Launch, Place, launch
from orchestrator.runner.orphans import close_orphans, reopen_interrupted, study_names
from orchestrator.runner.outcome import SweepAlreadyRunError, SweepOutcome
from orchestrator.runner.settings import resolve_settings
from orchestrator.sweep import SweepValidationError, build_plan, load_sweep
from orchestrator.sweep.stores import store_problems


def run_search_sweep_file(
    path: str | Path,
    *,
    run_dir: str | Path | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    resume: bool = False,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> SweepOutcome:
    """Validate `path` (raising `SweepValidationError`) and run the search sweep it describes.

    On any way out but success Ray is shut down first, then the sweep's MLflow runs and
    Optuna trials still RUNNING are closed as interrupted (`orphans.py`), which
    `--resume` continues exactly."""
    sweep_path = Path(path).expanduser().resolve()
    sweep = load_sweep(sweep_path)
    plan = build_plan(sweep)
    settings = resolve_settings(
        sweep,
        run_dir=run_dir or sweep.run_dir,
        tracking_uri=tracking_uri,
        storage_url=storage_url,
        address=address,
    )
    problems = store_problems(settings.tracking_uri, settings.storage_url)
    if problems:
        raise SweepValidationError(str(sweep_path), problems)
    studies = study_names(sweep.sweep_name, plan.cells)
    place = Place(
        sweep.sweep_name,
        settings.run_dir,
        settings.tracking_uri,
        settings.storage_url,
        settings.address,
        (sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial),
    )

    def drive(started: Launch) -> SweepOutcome:
        if resume:
            reopen_interrupted(settings.storage_url, studies)
        return run_sweep(
            sweep,
            plan,
            started.logged,
            settings,
            resume=resume,
            max_retries=max_retries,
            connection=started.connection,
        )

    def cleanup() -> None:
        close_orphans(settings.tracking_uri, settings.storage_url, sweep.sweep_name, studies)

    return launch(drive, sweep_path, place, cleanup=cleanup, keep=(SweepAlreadyRunError,))
