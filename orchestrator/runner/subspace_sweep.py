"""Running a subspace sweep: one experiment per task x seed as a Ray task, on embedded
Ray or a cluster, recorded in MLflow (`subspace_tracking.py`).

Each experiment is a Ray task holding ``resources.cpus_per_trial`` CPUs (and GPUs); Ray
reruns it when its worker process dies (``max_retries``), from the stages it had
finished (`workers.subspace.stage_checkpoints`); an application error is
returned as a value and recorded as a failed run. ``--resume`` reopens the sweep's
parent run and skips experiments whose run finished; runs an interrupted driver left
RUNNING are closed as failed and their experiments run again.
"""

from __future__ import annotations

import math
import tempfile
import traceback
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
from orchestrator.runner.driver import SweepAlreadyRunError, SweepOutcome
from orchestrator.runner.lock import sweep_lock
from orchestrator.runner.logged_copy import redacted_copy
from orchestrator.runner.reaper import start_reaper
from orchestrator.runner.stop import stop_on_signals
from orchestrator.runner.subspace_tracking import SubspaceTracker, experiment_key
from orchestrator.sweep.errors import SweepValidationError
from orchestrator.sweep.subspace_config import SubspaceSweepConfig, load_subspace_sweep


def execute_experiment(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """One experiment in this (worker) process: ``{"status": "ok", "result": ...}`` or
    ``{"status": "failed", "error": ...}``."""
    from orchestrator.quiet import quiet_libraries

    quiet_libraries()
    from workers.subspace import SubspaceConfig, result_to_dict, run_subspace

    quiet_libraries()
    try:
        result = run_subspace(SubspaceConfig(**cfg_dict))
    except Exception:
        return {"status": "failed", "error": traceback.format_exc(limit=20)}
    return {"status": "ok", "result": result_to_dict(result)}


def _check_sizes(sweep: SubspaceSweepConfig, source: str) -> None:
    """The DET sizes against the backbone (needs its shapes): before any run or Ray."""
    from workers.subspace import SubspaceConfig, SubspaceSetupError, check_config

    cfg = SubspaceConfig(**sweep.experiment_config(sweep.tasks[0], sweep.seeds[0], Path(".")))
    try:
        check_config(cfg)
    except SubspaceSetupError as err:
        raise SweepValidationError(source, [f"subspace.{err}"]) from None


def _experiment_config(
    sweep: SubspaceSweepConfig, task: str, seed: int, run_dir: Path
) -> dict[str, Any]:
    from workers.subspace import SubspaceConfig

    out = run_dir / "experiments" / experiment_key(task, seed).replace("/", "-")
    values = sweep.experiment_config(task, seed, out)
    values.setdefault("num_threads", max(1, math.ceil(sweep.resources.cpus_per_trial)))
    if values.get("device", "auto") == "auto" and not sweep.resources.gpus_per_trial:
        values["device"] = "cpu"
    values.setdefault("cache_dir", str(run_dir / "cache" / "encoded"))
    return SubspaceConfig(**values).model_dump()


def run_subspace_sweep_file(
    path: str | Path,
    *,
    run_dir: str | Path | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    resume: bool = False,
    max_retries: int = 3,
) -> SweepOutcome:
    """Validate ``path`` (raising `SweepValidationError`) and run its experiments.

    The same guards as an S3Delta sweep (`entry.run_sweep_file`): resources checked
    before any file or store, one driver per sweep (run-dir flock, PostgreSQL advisory
    lock), schemas created once, passwords never logged, a watchdog for embedded Ray,
    and SIGTERM/SIGINT/SIGHUP ending the parent run instead of leaving it RUNNING."""
    from orchestrator import paths

    sweep_path = Path(path).expanduser().resolve()
    sweep = load_subspace_sweep(sweep_path)
    _check_sizes(sweep, str(sweep_path))
    shape = (sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial)
    connection: RayConnection | None = None
    if address is None and not ray.is_initialized():
        check_resources(RayConnection("embedded", "", True, local_resources()), *shape)
    elif address is not None and not ray.is_initialized():
        connection = connect_ray(address)  # a cluster: asked before any file or store
        try:
            check_resources(connection, *shape)
        except BaseException:
            disconnect_ray(connection)
            raise
    name = sweep.sweep_name
    uri = tracking_uri or sweep.tracking_uri
    try:
        folder = paths.resolve_run_dir(run_dir or sweep.run_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix="s3delta-subspace-") as tmp,
            sweep_lock(folder, name),
            sweep_db_guard(uri, "", name),
        ):
            logged = redacted_copy(sweep_path, Path(tmp))
            embedded = connection is None and not ray.is_initialized()
            reaper = start_reaper() if embedded else None
            try:
                connection = connection or connect_ray(address)
                with stop_on_signals():  # after ray.init, which sets its own SIGTERM handler
                    ensure_schemas(uri, None)
                    return _drive(sweep, logged, folder, uri, resume, max_retries, str(path))
            finally:
                if reaper is not None:
                    reaper.close()
    finally:
        if connection is not None:
            disconnect_ray(connection)


def _drive(
    sweep: SubspaceSweepConfig,
    logged: Path,
    folder: Path,
    uri: str,
    resume: bool,
    max_retries: int,
    shown_path: str,
) -> SweepOutcome:
    """Submit every unfinished task x seed and record each as it returns."""
    from orchestrator import paths

    name = sweep.sweep_name
    tracker = SubspaceTracker(uri, sweep.mlflow.experiment)
    found = tracker.find_parent(name)
    if found is not None and not resume:
        raise SweepAlreadyRunError(
            f"subspace sweep {name!r} already has records in {paths.redact_url(uri)}; continue "
            f"it with `s3delta run {shown_path} --resume`, or give the file another name:"
        )
    parent = tracker.start_parent(name, logged, resume_id=found)
    done = tracker.finished_keys(parent) if found else set()
    if found:
        tracker.close_unfinished(parent)
    outcome = SweepOutcome(name, parent, folder, uri)
    status = "FAILED"
    try:
        remote = ray.remote(execute_experiment)
        pending: dict[Any, tuple[str, int, dict[str, Any]]] = {}
        for task in sweep.tasks:
            for seed in sweep.seeds:
                if experiment_key(task, seed) in done:
                    outcome.skipped += 1
                    continue
                cfg = _experiment_config(sweep, task, seed, folder)
                ref = remote.options(
                    num_cpus=sweep.resources.cpus_per_trial,
                    num_gpus=sweep.resources.gpus_per_trial,
                    max_retries=max_retries,
                    retry_exceptions=False,
                ).remote(cfg)
                pending[ref] = (task, seed, cfg)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            task, seed, cfg = pending.pop(ready[0])
            try:
                reply = ray.get(ready[0])
            except ray.exceptions.RayError as err:  # retries spent on lost workers
                reply = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            if reply["status"] == "ok":
                tracker.log_experiment(parent, task, seed, reply["result"])
                outcome.ok += 1
            else:
                tracker.log_failure(parent, task, seed, cfg, reply["error"])
                outcome.failed += 1
                outcome.failed_keys.append(experiment_key(task, seed))
        status = "FINISHED" if not outcome.failed else "FAILED"
    except BaseException as err:  # a stop signal or a lost cluster: the parent says so
        status = "KILLED" if isinstance(err, (KeyboardInterrupt, SystemExit)) else "FAILED"
        raise
    finally:
        tracker.end_parent(parent, status)
    return outcome
