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
import traceback
from pathlib import Path
from typing import Any

import ray

from orchestrator import paths
from orchestrator.runner.launch import Launch, Place, launch
from orchestrator.runner.outcome import SweepAlreadyRunError, SweepOutcome
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
    """Validate ``path`` (raising `SweepValidationError`) and run its experiments, under
    the guards every kind shares (`launch.py`); a stop signal ends the parent run KILLED
    instead of leaving it RUNNING."""
    sweep_path = Path(path).expanduser().resolve()
    sweep = load_subspace_sweep(sweep_path)
    _check_sizes(sweep, str(sweep_path))
    name = sweep.sweep_name
    uri = tracking_uri or sweep.tracking_uri
    shape = (sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial)
    folder = paths.resolve_run_dir(run_dir or sweep.run_dir, name)
    place = Place(name, folder, uri, None, address, shape)

    def drive(started: Launch) -> SweepOutcome:
        return _drive(sweep, started.logged, folder, uri, resume, max_retries, str(path))

    return launch(drive, sweep_path, place)


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
