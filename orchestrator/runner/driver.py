"""The sweep driver: the loop that keeps up to `max_concurrent` trials in flight.

The driver owns every Optuna study (ask/tell) and the MLflow client; trials are Ray
tasks (`executor.py`). Each loop turn: start startable jobs, wait briefly for one
to end, relay progress events to Optuna (intermediate dev scores, pruning) and to
the live table, and record ended trials in MLflow then Optuna (in that order, so a
driver that dies in between is repaired on `--resume` from the MLflow record).
"""

from __future__ import annotations

import errno
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import optuna
import ray

from orchestrator.runner import failures, fence
from orchestrator.runner import study as studies
from orchestrator.runner.cell import CellRunner, Job, trial_dir
from orchestrator.runner.cluster import RayConnection, check_resources, connect_ray, disconnect_ray
from orchestrator.runner.env_faults import trial_found_disk_full
from orchestrator.runner.executor import ATTEMPTS_FILE, start_hub, submit_trial
from orchestrator.runner.keys import TrialKey, study_name
from orchestrator.runner.outcome import (
    RecordedTrial,
    SweepAlreadyRunError,
    SweepOutcome,
    TrialOutcome,
)
from orchestrator.runner.progress import ProgressView, SweepProgress
from orchestrator.runner.seed_pairs import SeedPair, SeedPairs
from orchestrator.runner.settings import RunSettings
from orchestrator.runner.summary import log_comparison, log_summaries
from orchestrator.runner.tracking import INTERRUPTED, SweepTracker
from orchestrator.sweep.config import SweepConfig
from orchestrator.sweep.plan import Cell, Plan
from workers.trial_types import TrialConfig

WAIT_S = 1.0
MLFLOW_RUN_ATTR = "mlflow_run_id"  # Optuna user attribute: the trial's MLflow run
DEFAULT_MAX_RETRIES = 3


def _trial_config(
    config: TrialConfig, key: TrialKey, run_dir: Path, sweep: SweepConfig
) -> TrialConfig:
    """Fill in the per-trial places (outputs, checkpoints) and the CPU/GPU share."""
    resources = sweep.resources
    out = trial_dir(run_dir, key)
    places: dict[str, Any] = {
        "output_dir": str(out),
        "checkpoint_dir": str(out / "checkpoints"),
        # tokenise once per sweep: every trial of the sweep shares one encoded-data cache
        "cache_dir": str(run_dir / "cache" / "encoded"),
    }
    if "checkpoint_every" not in sweep.training:  # unset: checkpoint at every evaluation
        places["checkpoint_every"] = config.eval_every or 50
    if config.num_threads is None:
        places["num_threads"] = max(1, math.ceil(resources.cpus_per_trial))
    if config.device == "auto" and not resources.gpus_per_trial:
        places["device"] = "cpu"
    return config.model_copy(update=places)


def _attempts(config: TrialConfig) -> int:
    path = Path(config.output_dir or ".") / ATTEMPTS_FILE
    return len(path.read_text().splitlines()) if path.exists() else 0


def _max_concurrent(sweep: SweepConfig, connection: RayConnection) -> int:
    configured = sweep.resources.max_concurrent
    if configured:
        return int(configured)
    cpus = connection.resources.get("CPU", 1.0)
    fit = int(cpus // sweep.resources.cpus_per_trial)
    gpus_per = sweep.resources.gpus_per_trial
    if gpus_per:
        fit = min(fit, int(connection.resources.get("GPU", 0.0) // gpus_per))
    return max(1, fit)


def prunes(sweep: SweepConfig) -> bool:
    """Whether tuning trials are pruned: as `pruning.enabled` says (on when unset), never
    for the score-vs-size objective, which Optuna cannot prune."""
    enabled = sweep.pruning.enabled
    return (enabled if enabled is not None else True) and sweep.optuna.objective != "score_vs_size"


def _make_cells(
    sweep: SweepConfig, plan: Plan, settings: RunSettings, recorded: dict[str, RecordedTrial]
) -> list[CellRunner]:
    from orchestrator.sweep import suggest_config

    storage = studies.make_storage(settings.storage_url)
    multi = sweep.optuna.objective == "score_vs_size"
    cells = []
    for cell in plan.cells:
        name = study_name(sweep.sweep_name, cell.task, cell.method, cell.budget)
        study = studies.open_study(
            name=name,
            storage=storage,
            sampler=studies.make_sampler(
                sweep.optuna.sampler, studies.cell_seed(sweep.optuna.seed, name)
            ),
            pruner=studies.make_pruner(
                prunes(sweep), sweep.pruning.min_steps, sweep.pruning.reduction_factor
            ),
            multi_objective=multi,
        )

        def suggest(trial: optuna.Trial, _cell: Cell = cell) -> TrialConfig:
            return suggest_config(trial, sweep, _cell)

        def finalize(config: TrialConfig, key: TrialKey) -> TrialConfig:
            return _trial_config(config, key, settings.run_dir, sweep)

        cells.append(
            CellRunner(
                sweep_name=sweep.sweep_name,
                cell=cell,
                study=study,
                suggest=suggest,
                finalize=finalize,
                recorded=recorded,
                multi_objective=multi,
                run_dir=settings.run_dir,
            )
        )
    return _link_sources(cells)


def _link_sources(cells: list[CellRunner]) -> list[CellRunner]:
    """One search, every budget, and transfers: each derived cell learns its source cell;
    sources first,
    so a derived cell can start in the same turn its source's seed finished."""
    by_ident = {(c.cell.task, c.cell.method, c.cell.budget): c for c in cells}
    for runner in cells:
        source = runner.cell.source_ident
        if source is not None:
            runner.source = by_ident[source]

    def depth(runner: CellRunner) -> int:  # a transfer's source may itself be derived
        return 0 if runner.source is None else 1 + depth(runner.source)

    return sorted(cells, key=depth)


def _refuse_rerun(
    sweep: SweepConfig, plan: Plan, settings: RunSettings, tracker: SweepTracker
) -> None:
    storage = studies.make_storage(settings.storage_url)
    used = [
        study_name(sweep.sweep_name, c.task, c.method, c.budget)
        for c in plan.cells
        if studies.study_exists(storage, study_name(sweep.sweep_name, c.task, c.method, c.budget))
    ]
    parent = tracker.find_parent(sweep.sweep_name)
    if used or parent:
        where = f"Optuna studies {used[:3]}" if used else f"MLflow parent run {parent}"
        raise SweepAlreadyRunError(
            f"sweep {sweep.sweep_name!r} has already run ({where}); continue it with "
            "`s3delta run SWEEP.yaml --resume`, or give the sweep a new `name:`"
        )


def run_sweep(
    sweep: SweepConfig,
    plan: Plan,
    sweep_yaml: Path,
    settings: RunSettings,
    *,
    resume: bool = False,
    max_retries: int = DEFAULT_MAX_RETRIES,
    connection: RayConnection | None = None,
) -> SweepOutcome:
    """Run (or resume) a whole sweep; returns once every cell has its final seed runs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings.prepare_folders()
    tracker = SweepTracker(settings.tracking_uri, settings.experiment, settings.artifact_root)
    if not resume:
        _refuse_rerun(sweep, plan, settings, tracker)
    shutil.copyfile(sweep_yaml, settings.run_dir / "sweep.yaml")
    plan_dict = plan.to_dict()
    (settings.run_dir / "plan.json").write_text(json.dumps(plan_dict, indent=2, default=str))
    if resume:  # runs a dead driver left RUNNING: closed, reused when their key reruns
        tracker.close_stale(sweep.sweep_name)
    retried = 0  # failed trials rerun by this --resume, unless --no-retry-failed
    if resume and failures.retry_enabled():
        retried = failures.reopen_failed_cells(
            tracker, settings.storage_url, sweep.sweep_name, plan.cells
        )
    recorded = tracker.recorded(sweep.sweep_name) if resume else {}
    own_connection = connection is None
    connection = connection or connect_ray(settings.address)
    status = "FAILED"  # the sweep run's end, and its s3delta.state
    state: str | None = "failed"
    try:
        check_resources(connection, sweep.resources.cpus_per_trial, sweep.resources.gpus_per_trial)
        parent = tracker.find_parent(sweep.sweep_name) if resume else None
        parent_tags = tracker.tags_for_parent(
            run_dir=str(settings.run_dir),
            optuna_storage=settings.storage_url,
            ray_mode=connection.mode,
            ray_address=connection.address,
        )
        tracker.start_parent(sweep.sweep_name, sweep_yaml, plan_dict, parent_tags, resume_id=parent)
        outcome = SweepOutcome(
            sweep.sweep_name, tracker.parent_id or "", settings.run_dir, settings.tracking_uri
        )
        outcome.skipped = sum(r.status == "FINISHED" for r in recorded.values())
        outcome.retried = retried
        cells = _make_cells(sweep, plan, settings, recorded)
        pairs = None
        if sweep.sequential_seeds is not None:  # seeds until decided: replay the looks
            pairs = SeedPairs(sweep.sequential_seeds, cells)
            pairs.replay()
        _Loop(sweep, cells, tracker, connection, max_retries, outcome, pairs).run()
        log_summaries(tracker, sweep.sweep_name, close=True)
        log_comparison(tracker, sweep.sweep_name)
        status = failures.close_sweep_state(tracker, cells, outcome)  # incomplete: FAILED
        state = None  # tagged by close_sweep_state: finished or incomplete
        return outcome
    except KeyboardInterrupt:  # a stop signal: KILLED, interrupted (docs/cluster.md)
        status, state = "KILLED", INTERRUPTED
        raise
    finally:
        if not fence.is_lost():  # a driver that lost its sweep writes nothing more
            tracker.end_parent(status, state)
        if own_connection:
            disconnect_ray(connection)


SEEDS_NEXT_TAG = "s3delta.seeds_next"


def log_seed_verdict(tracker: SweepTracker, pair: SeedPair) -> None:
    """The pair's last look on the s3delta cell's run (tags and metrics, points). A look
    that adds no seed removes the `SEEDS_NEXT_TAG` an earlier look set, so a decided cell
    does not still name the seed it was waiting for."""
    step, run_id = pair.last, pair.method.run_id
    if step is None or run_id is None:
        return
    tags = {
        "s3delta.seeds_baseline": pair.baseline.cell.method,
        "s3delta.seeds_verdict": step.verdict,
        "s3delta.seeds_used": str(step.n_pairs),
    }
    if step.next_seed is not None:
        tags[SEEDS_NEXT_TAG] = str(step.next_seed)
    elif SEEDS_NEXT_TAG in tracker.client.get_run(run_id).data.tags:
        tracker.client.delete_tag(run_id, SEEDS_NEXT_TAG)
    for name, value in tags.items():
        tracker.client.set_tag(run_id, name, value)
    if step.interval is not None:
        low, high = step.interval
        tracker.log_summary(run_id, {"seeds_ci_low": low, "seeds_ci_high": high}, None)


class _Loop:
    """The scheduling loop over all cells of one sweep."""

    def __init__(
        self,
        sweep: SweepConfig,
        cells: list[CellRunner],
        tracker: SweepTracker,
        connection: RayConnection,
        max_retries: int,
        outcome: SweepOutcome,
        pairs: SeedPairs | None = None,
    ) -> None:
        self.sweep = sweep
        self.cells = cells
        self.pairs = pairs
        self.closed: set[int] = set()  # id() of the cells whose runs were closed
        self.tracker = tracker
        self.max_retries = max_retries
        self.outcome = outcome
        self.limit = _max_concurrent(sweep, connection)
        self.prune = prunes(sweep)
        self.hub = start_hub()
        self.inflight: dict[ray.ObjectRef, tuple[CellRunner, Job]] = {}
        self.by_key: dict[str, tuple[CellRunner, Job]] = {}
        self.progress = SweepProgress([c.row for c in cells], self.limit)
        for cell in cells:  # sweep run -> cell runs -> trial runs
            cell.run_id = tracker.start_cell(sweep.sweep_name, *cell.cell.ident)
        for pair in pairs.pairs if pairs else []:
            self._log_verdict(pair)

    def _log_verdict(self, pair: SeedPair) -> None:
        log_seed_verdict(self.tracker, pair)

    def run(self) -> None:
        with ProgressView(self.progress, self.sweep.sweep_name) as view:
            self.view = view
            try:
                while True:
                    fence.check()  # lost its lock: stop scheduling at once (fence.py)
                    self._fill()
                    if not self.inflight:
                        if all(c.finished for c in self.cells):
                            break
                        raise RuntimeError("no trial running and none startable: scheduler stuck")
                    ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=WAIT_S)
                    self._relay_events()
                    for ref in ready:
                        self._finish(ref)
                    view.refresh()
            except BaseException:
                for ref in self.inflight:
                    ray.cancel(ref, force=True)
                raise

    def _fill(self) -> None:
        for cell in self.cells:
            while len(self.inflight) < self.limit:
                job = cell.next_job()
                if job is None:
                    break
                run_id = self.tracker.start_trial(job.key, job.config, cell.run_id)
                if job.trial is not None:
                    job.trial.set_user_attr(MLFLOW_RUN_ATTR, run_id)
                ref = submit_trial(
                    job.config,
                    job.key.text,
                    self.hub,
                    num_cpus=self.sweep.resources.cpus_per_trial,
                    num_gpus=self.sweep.resources.gpus_per_trial,
                    max_retries=self.max_retries,
                )
                self.inflight[ref] = (cell, job)
                self.by_key[job.key.text] = (cell, job)

    def _relay_events(self) -> None:
        # ray.get's stubs lose ProgressHub.drain's return type
        drained = cast("dict[str, list[dict[str, Any]]]", ray.get(self.hub.drain.remote()))
        for key, events in drained.items():
            if key not in self.by_key:
                continue
            cell, job = self.by_key[key]
            for event in events:
                if cell.report(job, event, self.prune):
                    self.hub.stop.remote(key)
            if not events:
                continue
            self.tracker.log_events(key, events)
            last = events[-1]
            cell.row.step_note = f"{last['phase']} {last['step']}/{last['total_steps']}"

    def _finish(self, ref: ray.ObjectRef) -> None:
        cell, job = self.inflight.pop(ref)
        fence.check_trial(job.config.output_dir, job.key.text)  # still this driver's trial
        try:
            outcome: TrialOutcome = ray.get(ref)
        except Exception as error:  # worker lost beyond max_retries, or a Ray error
            outcome = TrialOutcome.failed(f"{type(error).__name__}: {error}")
        folder = job.config.output_dir
        if outcome.status == "failed" and trial_found_disk_full(outcome.error, folder):
            # a machine fault, not a failed trial: end the sweep (exit 4, env_faults.py);
            # the trial's run is closed as interrupted (or left for `--resume` / `runs --gc`)
            raise OSError(errno.ENOSPC, f"No space left on device (trial {job.key.text})", folder)
        self._relay_events()
        run_id = self.tracker.finish_trial(
            job.key, job.config, outcome, job.events, _attempts(job.config)
        )
        cell.complete(job, outcome)
        record = cell.recorded.get(job.key.text)
        if record is not None:  # a source run that derived trials name
            cell.recorded[job.key.text] = replace(record, run_id=run_id)
        touched = [cell]
        if self.pairs is not None and job.trial is None:  # a final run: look at its pairs
            for pair in self.pairs.after_final(cell):
                self._log_verdict(pair)
                touched += [c for c in pair.cells if c is not cell]
        for done in touched:  # a pair's partner may finish when this run settles the pair
            if done.finished and id(done) not in self.closed:
                self.closed.add(id(done))
                ident = [done.cell.ident]
                log_summaries(self.tracker, self.sweep.sweep_name, ident, close=True)
                failures.close_incomplete(
                    self.tracker, [done], done.recorded, self.outcome.failed_keys
                )
        self.hub.forget.remote(job.key.text)
        del self.by_key[job.key.text]
        if outcome.result is not None:
            self.outcome.ok += 1
            self.progress.durations.append(float(outcome.result.wall_time_s or 0.0))
            note = f"dev {outcome.result.dev_score:.4f}"
        elif outcome.status == "pruned":
            self.outcome.pruned += 1
            note = "pruned"
        else:
            self.outcome.failed += 1
            self.outcome.failed_keys.append(job.key.text)
            note = "FAILED: " + outcome.error.strip().splitlines()[-1][:200]
        self.view.line(f"{job.key.label}: {note}")
