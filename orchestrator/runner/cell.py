"""One sweep cell (task x method x budget) as a small state machine the driver polls.

Tune phase: ask Optuna for configs until the cell's tuning budget is used; then the
final phase runs the best config once per seed (a cell with nothing to tune has no
tune phase and runs the sweep's fixed settings). On `--resume`, trials the previous
driver left RUNNING are rerun under the same Optuna number (so the same key and
checkpoint folder), unless MLflow already holds their outcome; final seeds with a
FINISHED run are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from orchestrator.runner import failures
from orchestrator.runner import study as studies
from orchestrator.runner.keys import Phase, TrialKey
from orchestrator.runner.outcome import RecordedTrial, TrialOutcome
from orchestrator.runner.progress import CellRow
from orchestrator.sweep.plan import Cell
from workers.trial_types import TrialConfig

# an optuna trial -> the cell's TrialConfig (wraps `orchestrator.sweep.suggest_config`)
Suggest = Callable[[optuna.Trial], TrialConfig]
# a cell's TrialConfig -> the same with the trial's own places (folders) and resources
Finalize = Callable[[TrialConfig, TrialKey], TrialConfig]


@dataclass
class Job:
    """One trial to run: its key, its full TrialConfig, and its Optuna handle (tune only)."""

    key: TrialKey
    config: TrialConfig
    trial: optuna.Trial | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    saw_search: bool = False
    reported_steps: set[int] = field(default_factory=set)

    def resource_step(self, event: dict[str, Any]) -> int:
        """Training steps spent so far: the resource axis of successive halving."""
        if event["phase"] == "search":
            self.saw_search = True
            return int(event["step"])
        offset = self.config.search_steps if self.saw_search else 0
        return offset + int(event["step"])


@dataclass
class CellRunner:
    """Hands out the jobs of one plan cell and takes their outcomes."""

    sweep_name: str
    cell: Cell
    study: optuna.Study
    suggest: Suggest
    finalize: Finalize
    recorded: dict[str, RecordedTrial]
    multi_objective: bool
    row: CellRow = field(init=False)
    queue: list[Job] = field(default_factory=list)
    running: int = 0
    final_started: bool = False
    best_config: TrialConfig | None = None
    run_id: str | None = None  # the cell's MLflow run (parent of its trial runs)
    # one search, every budget: the cell whose search this one re-solves at its own budget
    # (each seed waits for the source's final run of that seed), and where trials write
    source: CellRunner | None = None
    run_dir: Path | None = None
    pending: list[int] = field(default_factory=list)  # seeds waiting for their source run
    # seeds until decided (`seed_pairs`): seeds added after the plan's, and checks that
    # must all hold before the cell counts as finished (its pairs are settled)
    extra_seeds: list[int] = field(default_factory=list)
    holds: list[Callable[[], bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row = CellRow(self.cell)
        self._settle_stale_trials()
        self._refresh_row()

    # -- keys ---------------------------------------------------------------------------
    def key(self, phase: Phase, index: int) -> TrialKey:
        cell = self.cell
        return TrialKey(self.sweep_name, cell.task, cell.method, cell.budget, phase, index)

    # -- resume ---------------------------------------------------------------------------
    def _settle_stale_trials(self) -> None:
        for frozen in studies.stale_trials(self.study):
            key = self.key("tune", frozen.number)
            record = self.recorded.get(key.text)
            if record is None:
                config = frozen.user_attrs.get(studies.CONFIG_ATTR)
                if config is None:  # asked but never configured: nothing ran
                    self.study.tell(frozen.number, state=TrialState.FAIL)
                    continue
                trial = studies.trial_for(self.study, frozen)
                self.queue.append(Job(key, TrialConfig.model_validate(config), trial))
            elif record.status == "FINISHED":
                self.study.tell(frozen.number, self._values(record.dev_score, record.delta_params))
            elif record.status == "KILLED":
                self.study.tell(frozen.number, state=TrialState.PRUNED)
            else:
                self.study.tell(frozen.number, state=TrialState.FAIL)

    def _values(self, dev_score: float | None, delta_params: float | None) -> float | list[float]:
        score = float("nan") if dev_score is None else float(dev_score)
        if self.multi_objective:
            return [score, float(delta_params or 0.0)]
        return score

    # -- handing out jobs ------------------------------------------------------------------
    def next_job(self) -> Job | None:
        """The next job to start, or None when the cell has nothing startable now."""
        if self.source is not None:
            return self._next_derived(self.source)
        if self.queue:
            return self._started(self.queue.pop(0))
        if not self.final_started:
            if len(self.study.get_trials(deepcopy=False)) < self.cell.n_tune_trials:
                return self._started(self._ask())
            if self.running:
                return None  # tuning still in flight
            self._start_final_phase()
            if self.queue:
                return self._started(self.queue.pop(0))
        return None

    def _started(self, job: Job) -> Job:
        self.running += 1
        self._refresh_row()
        return job

    def _ask(self) -> Job:
        trial = self.study.ask()
        key = self.key("tune", trial.number)
        config = self.finalize(self.suggest(trial), key)
        trial.set_user_attr(studies.CONFIG_ATTR, config.model_dump())
        trial.set_user_attr(studies.KEY_ATTR, key.text)
        return Job(key, config, trial)

    def _start_final_phase(self) -> None:
        self.final_started = True
        if self.cell.n_tune_trials == 0:  # nothing to tune in this cell: the fixed settings
            self.best_config = self.suggest(optuna.trial.FixedTrial({}))  # type: ignore[arg-type]
        else:
            best = studies.best_trial(self.study)
            if best is None:
                self.row.state = "failed"
                return
            self.best_config = TrialConfig.model_validate(best.user_attrs[studies.CONFIG_ATTR])
        for seed in self.seeds:
            key = self.key("final", seed)
            if self._finished(key) or (self._failed(key) and not failures.retry_enabled()):
                continue  # done, or failed and kept failed (--no-retry-failed)
            config = self.finalize(self.best_config.model_copy(update={"seed": seed}), key)
            self.queue.append(Job(key, config))

    @property
    def seeds(self) -> tuple[int, ...]:
        """The final seeds: the plan's, then any a sequential comparison added."""
        return (*self.cell.seeds, *self.extra_seeds)

    def add_seed(self, seed: int) -> None:
        """Run one more final seed (seeds until decided); a seed already known is ignored."""
        if seed in self.seeds:
            return
        self.extra_seeds.append(seed)
        if self.final_started and self.best_config is not None:
            key = self.key("final", seed)
            if not self._finished(key):
                config = self.finalize(self.best_config.model_copy(update={"seed": seed}), key)
                self.queue.append(Job(key, config))
        self._refresh_row()

    def final_scores(self) -> dict[int, float]:
        """Test score of each final seed with a FINISHED run."""
        scores = {}
        for seed in self.seeds:
            record = self.recorded.get(self.key("final", seed).text)
            if record is not None and record.status == "FINISHED" and record.test_score is not None:
                scores[seed] = float(record.test_score)
        return scores

    def _finished(self, key: TrialKey) -> bool:
        record = self.recorded.get(key.text)
        return record is not None and record.status == "FINISHED"

    def _failed(self, key: TrialKey) -> bool:
        record = self.recorded.get(key.text)
        return record is not None and record.status == "FAILED"

    # -- one search, every budget ------------------------------------------------------------
    def _next_derived(self, source: CellRunner) -> Job | None:
        """A final run re-solving the source's search of its seed, once that run finished."""
        if not self.final_started:
            if source.best_config is None:
                if source.row.state == "failed":  # no search will come: nothing to retrain
                    self.final_started = True
                    self.row.state = "failed"
                    self._refresh_row()
                return None
            self.final_started = True
            cell = self.cell  # the source's tuned settings, for this cell's task and method
            update = {"task": cell.task, "method": cell.method, "budget": cell.budget}
            self.best_config = source.best_config.model_copy(update=update)
            self.pending = [s for s in self.cell.seeds if not self._finished(self.key("final", s))]
        for seed in list(self.pending):
            source_key = source.key("final", seed)
            record = self.recorded.get(source_key.text)
            if record is not None and record.status == "FINISHED":
                self.pending.remove(seed)
                self.queue.append(self._derived_job(seed, source_key, record))
            elif source.finished:  # the source run of this seed failed: no logits to use
                self.pending.remove(seed)
                self.row.failed += 1
        if self.queue:
            return self._started(self.queue.pop(0))
        self._refresh_row()
        return None

    def _derived_job(self, seed: int, source_key: TrialKey, record: RecordedTrial) -> Job:
        assert self.best_config is not None and self.run_dir is not None
        key = self.key("final", seed)
        derived = self.cell.derived_as or "one_search"
        extra = {k: v for k, v in (self.best_config.extra or {}).items() if k != "one_search"}
        extra[derived] = {
            "source_task": source_key.task,
            "source_budget": str(source_key.budget),
            "source_key": source_key.text,
            "source_run_id": str(record.run_id or ""),
        }
        folder = trial_dir(self.run_dir, source_key)
        update: dict[str, object] = {"seed": seed, "extra": extra}
        if derived == "transfer":  # exactly the source's structure
            update.update(structure_from=str(folder / "structure.json"), logits_from=None)
        else:  # the source's logits, re-solved at this budget
            update.update(logits_from=str(folder / "logits.json"), structure_from=None)
        return Job(key, self.finalize(self.best_config.model_copy(update=update), key))

    # -- outcomes ----------------------------------------------------------------------------
    def complete(self, job: Job, outcome: TrialOutcome) -> None:
        """Take a finished job's outcome (status ok|pruned|failed)."""
        self.running -= 1
        result = outcome.result
        if job.trial is not None:
            if result is not None:
                self.study.tell(job.trial, self._values(result.dev_score, result.delta_params))
            elif outcome.status == "pruned":
                self.study.tell(job.trial, state=TrialState.PRUNED)
            else:
                self.study.tell(job.trial, state=TrialState.FAIL)
        elif result is not None:
            self.recorded[job.key.text] = RecordedTrial.of(result)
        if outcome.status == "failed":
            self.row.failed += 1
        self._refresh_row()

    def report(self, job: Job, event: dict[str, Any], prune_enabled: bool) -> bool:
        """Feed an intermediate dev score to Optuna; True when the trial should stop."""
        job.events.append(event)
        step = job.resource_step(event)
        score = event.get("metrics", {}).get("dev_score")
        if job.trial is None or self.multi_objective or score is None or math.isnan(score):
            return False
        if step in job.reported_steps:
            return False
        job.reported_steps.add(step)
        job.trial.report(float(score), step)
        return prune_enabled and job.trial.should_prune()

    @property
    def finished(self) -> bool:
        idle = self.final_started and not self.queue and self.running == 0 and not self.pending
        return idle and all(hold() for hold in self.holds)

    def _refresh_row(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        self.row.tune_done = sum(t.state in studies.FINISHED_STATES for t in trials)
        self.row.final_done = sum(self._finished(self.key("final", s)) for s in self.seeds)
        self.row.added_seeds = len(self.extra_seeds)
        self.row.running = self.running
        best = studies.best_trial(self.study)
        self.row.best_dev = None if best is None else best.values[0]
        if self.row.state != "failed":
            self.row.state = "done" if self.finished else "final" if self.final_started else "tune"


def trial_dir(run_dir: Path, key: TrialKey) -> Path:
    """Where one trial writes outputs and checkpoints (stable across retries and resumes)."""
    return run_dir / "trials" / key.folder
