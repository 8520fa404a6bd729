"""`run_sweep_file`: load and validate a sweep file, resolve where it writes, run it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ray

from orchestrator.paths import redact_url
from orchestrator.runner.cluster import RayConnection, check_resources, local_resources
from orchestrator.runner.driver import DEFAULT_MAX_RETRIES, SweepOutcome, run_sweep
from orchestrator.runner.lock import sweep_lock
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
    from orchestrator.sweep import SweepValidationError, load_sweep
    from orchestrator.sweep.stores import store_problems

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
    problems = store_problems(settings.tracking_uri, settings.storage_url)
    if problems:
        raise SweepValidationError(str(sweep_path), problems)
    if settings.address is None and not ray.is_initialized():  # embedded: known before start
        embedded = RayConnection("embedded", "", True, local_resources())
        check_resources(embedded, sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial)
    with tempfile.TemporaryDirectory(prefix="s3delta-sweep-") as tmp:
        # the copies in run_dir and on the parent run never hold a password
        logged = _redacted_copy(sweep_path, Path(tmp))
        with sweep_lock(settings.run_dir, sweep.sweep_name):  # one sweep, one driver
            return run_sweep(sweep, plan, logged, settings, resume=resume, max_retries=max_retries)


def _redacted_copy(sweep_path: Path, folder: Path) -> Path:
    """`sweep_path` itself, or a copy in `folder` with passwords in URLs replaced."""
    text = sweep_path.read_text(encoding="utf-8")
    redacted = redact_url(text)
    if redacted == text:
        return sweep_path
    copy = folder / sweep_path.name
    copy.write_text(redacted, encoding="utf-8")
    return copy
