"""`run_sweep_file`: load and validate a sweep file, resolve where it writes, run it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ray

from orchestrator.runner.cluster import (
    RayConnection,
    check_resources,
    connect_ray,
    disconnect_ray,
    local_resources,
)
from orchestrator.runner.db_lock import ensure_schemas, sweep_db_guard
from orchestrator.runner.driver import (
    DEFAULT_MAX_RETRIES,
    SweepAlreadyRunError,
    SweepOutcome,
    run_sweep,
)
from orchestrator.runner.lock import sweep_lock
from orchestrator.runner.logged_copy import redacted_copy
from orchestrator.runner.orphans import close_orphans, reopen_interrupted, study_names
from orchestrator.runner.reaper import start_reaper
from orchestrator.runner.settings import RunSettings, resolve_settings
from orchestrator.runner.stop import stop_on_signals


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
    from orchestrator.sweep import SweepValidationError, build_plan, load_sweep
    from orchestrator.sweep.stores import store_problems

    sweep_path = Path(path).expanduser().resolve()
    if _is_subspace_sweep(sweep_path):  # a `subspace:` section: subspace experiments
        from orchestrator.runner.subspace_sweep import run_subspace_sweep_file

        return run_subspace_sweep_file(
            sweep_path,
            run_dir=run_dir,
            address=address,
            tracking_uri=tracking_uri,
            resume=resume,
            max_retries=max_retries,
        )
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
    shape = (sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial)
    connection: RayConnection | None = None
    if settings.address is None and not ray.is_initialized():  # embedded: known before start
        check_resources(RayConnection("embedded", "", True, local_resources()), *shape)
    elif settings.address is not None and not ray.is_initialized():
        connection = connect_ray(settings.address)  # a cluster: asked before any file or store
        try:
            check_resources(connection, *shape)
        except BaseException:
            disconnect_ray(connection)
            raise
    with tempfile.TemporaryDirectory(prefix="s3delta-sweep-") as tmp:
        # the copies in run_dir and on the parent run never hold a password
        logged = redacted_copy(sweep_path, Path(tmp))
        try:
            # one sweep, one driver: a file lock in the run dir, and a lock in the shared
            # database when the stores live on a server other machines may use
            with (
                sweep_lock(settings.run_dir, sweep.sweep_name),
                sweep_db_guard(settings.tracking_uri, settings.storage_url, sweep.sweep_name),
            ):
                drive = _Drive(sweep, plan, logged, settings, connection)
                connection = None  # the drive owns it now
                return drive.run(resume=resume, max_retries=max_retries)
        finally:
            if connection is not None:
                disconnect_ray(connection)


def _is_subspace_sweep(path: Path) -> bool:
    from orchestrator.sweep.subspace_config import is_subspace_sweep
    from orchestrator.sweep.yaml_source import read_yaml

    return is_subspace_sweep(read_yaml(path))


class _Drive:
    """One driver's run of a sweep, ending what it started however it stops.

    Embedded Ray gets a watchdog (`reaper.py`) for a kill -9; SIGTERM/SIGINT/SIGHUP stop
    the loop (`stop.py`); on any way out but success Ray is shut down first, then the
    sweep's MLflow runs and Optuna trials still RUNNING are closed as interrupted
    (`orphans.py`), which `--resume` continues exactly."""

    def __init__(
        self,
        sweep: Any,
        plan: Any,
        logged: Path,
        settings: RunSettings,
        connection: RayConnection | None,
    ) -> None:
        self.sweep, self.plan, self.logged, self.settings = sweep, plan, logged, settings
        self.connection = connection
        self.studies = study_names(sweep.sweep_name, plan.cells)

    def run(self, *, resume: bool, max_retries: int) -> SweepOutcome:
        settings = self.settings
        embedded = self.connection is None and not ray.is_initialized()
        reaper = start_reaper() if embedded else None
        try:
            self.connection = self.connection or connect_ray(settings.address)
            with stop_on_signals():  # after ray.init, which sets its own SIGTERM handler
                ensure_schemas(settings.tracking_uri, settings.storage_url)
                if resume:
                    reopen_interrupted(settings.storage_url, self.studies)
                try:
                    return run_sweep(
                        self.sweep,
                        self.plan,
                        self.logged,
                        settings,
                        resume=resume,
                        max_retries=max_retries,
                        connection=self.connection,
                    )
                except SweepAlreadyRunError:
                    raise
                except BaseException:
                    self._disconnect()  # stop the trials first, then close their records
                    close_orphans(
                        settings.tracking_uri,
                        settings.storage_url,
                        self.sweep.sweep_name,
                        self.studies,
                    )
                    raise
        finally:
            self._disconnect()
            if reaper is not None:
                reaper.close()

    def _disconnect(self) -> None:
        if self.connection is not None:
            disconnect_ray(self.connection)
            self.connection = None
