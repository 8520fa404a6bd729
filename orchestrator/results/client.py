"""Python API over what the orchestrator records in MLflow (read side).

Everything a user or a dashboard asks of a finished (or running) sweep goes through
`Client`, so the MLflow layout (docs/design.md "MLflow layout") is decoded in one
place. Tables are pandas DataFrames with plain column names (``task``, ``test_score``)
rather than MLflow's ``tags.s3delta.task`` / ``metrics.test_score``.

Loading and exporting trained deltas needs torch; those two methods import it when
called, so reading results (dashboards, `s3delta results`) never loads it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from orchestrator import paths
from orchestrator.results.comparison import budget_key, compare_scores
from orchestrator.results.comparison_metrics import comparison_metrics, metric_part
from orchestrator.results.comparison_types import Comparison, SeedScore
from orchestrator.results.costs import SweepCosts, cost_metrics, sweep_costs
from orchestrator.results.query import (
    KIND_TAG,
    SWEEP_TAG,
    TAG,
    log_metrics,
    quote,
    search_all,
    tags_filter,
)
from search_space.budget import BudgetError, parse_budget
from search_space.structure import Structure
from workers.methods import RANDOM_METHOD, SEARCHED_METHOD

TRIAL_TAGS = ("sweep", "task", "method", "budget", "seed", "phase")
TRIAL_BASE_COLUMNS = ["run_id", "status", "start_time", "end_time", *TRIAL_TAGS]


class ResultsError(ValueError):
    """A question the recorded runs cannot answer; the message names what exists."""


class UnknownSweepError(ResultsError):
    """The named sweep has no parent run in the experiment."""


def default_runs_dir() -> Path:
    """Where the embedded default store lives: ``$S3DELTA_HOME``, else ``<cwd>/runs``.

    Delegates to `orchestrator.paths.s3delta_home` so writer and reader agree
    (inside a Ray job that is ``~/s3delta-runs``).
    """
    return paths.s3delta_home().absolute()


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else ``sqlite:///<default_runs_dir>/mlflow.db``.

    The same function the orchestrator uses (`orchestrator.paths.default_tracking_uri`).
    """
    return paths.default_tracking_uri()


def missing_sqlite_store(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI when that file does not exist.

    Opening such a URI would create an empty store, so readers check first."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    path = Path(tracking_uri[len(prefix) :].split("?", 1)[0])
    if str(path) in ("", ":memory:") or path.exists():
        return None
    return path


def _same_budget(a: str, b: str) -> bool:
    """Budget texts are equal if they parse to the same budget ("2e4" == "20000")."""
    if a.strip() == b.strip():
        return True
    try:
        pa, pb = parse_budget(a), parse_budget(b)
    except BudgetError:
        return False
    return pa.kind == pb.kind and math.isclose(pa.value, pb.value)


def _test_capped(row: dict[str, Any]) -> bool:
    """Whether a run's test split is smaller than the protocol's (cut by max_eval_examples).

    The protocol's test split is the whole official validation set for tasks with at
    least 10k training examples, else half of it (grouped splits may be a little short
    of half, hence the 10% slack)."""
    n_test = _optional(row, "n_test")
    validation = _optional(row, "n_official_validation")
    train = _optional(row, "n_official_train")
    if n_test is None or validation is None or train is None:
        return False
    expected = validation if train >= 10_000 else validation / 2
    return n_test < 0.9 * expected


def _latest_finished(trials: pd.DataFrame) -> pd.DataFrame:
    """FINISHED runs; a trial run twice (resume, retry) counts once: its latest finished run."""
    finished = trials[trials["status"] == "FINISHED"]
    keys = ["task", "method", "budget", "seed"]
    return finished.sort_values("start_time").drop_duplicates(keys, keep="last")


def _accuracy_only(finished: pd.DataFrame) -> set[str]:
    """Tasks whose only recorded test metric is accuracy (its SE is sqrt(p(1-p)/n))."""
    columns = [c for c in finished.columns if c.startswith("test_") and c != "test_score"]
    tasks = set()
    for task, runs in finished.groupby("task"):
        logged = {c for c in columns if runs[c].notna().any()}
        if logged == {"test_accuracy"}:
            tasks.add(str(task))
    return tasks


def _optional(row: dict[str, Any], column: str) -> float | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def trial_row(run: Run) -> dict[str, Any]:
    """One trial run as a row of `trials_table`: ids, status, times, tags, latest metrics."""
    row: dict[str, Any] = {
        "run_id": run.info.run_id,
        "status": run.info.status,
        "start_time": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
        "end_time": pd.to_datetime(run.info.end_time, unit="ms", utc=True),
    }
    for tag in TRIAL_TAGS:
        row[tag] = run.data.tags.get(TAG + tag)
    row.update(run.data.metrics)
    return row


def trials_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Trial rows (`trial_row`, or the ones the driver holds) as `Client.trials` returns them:
    the base columns first, seed as an integer, then the metrics sorted by name."""
    frame = pd.DataFrame(list(rows))
    for column in TRIAL_BASE_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=object)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    metric_columns = sorted(c for c in frame.columns if c not in TRIAL_BASE_COLUMNS)
    frame = frame[TRIAL_BASE_COLUMNS + metric_columns]
    return frame.sort_values(["task", "method", "budget", "seed"], ignore_index=True)


def results_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Final-phase results per (task, method, budget) of a trials table: mean/std over seeds.

    Only FINISHED runs count (the latest one if a seed ran twice); ``n_failed``
    says how many runs of the cell did not finish (failed, killed, still running); a
    cell without any final run but with failed tuning trials is a row with 0 seeds and
    those failures.
    Columns: task, method, budget, n_seeds, n_failed, test_score_mean/_std, each
    ``test_<metric>``'s mean/std, dev_score_mean, delta_params_mean,
    budget_params_mean. Std is the sample std (ddof=1); NaN with one seed.
    """
    every_phase = trials
    trials = trials[trials["phase"] == "final"]
    keys = ["task", "method", "budget"]
    finished = _latest_finished(trials)
    failed = trials[trials["status"] != "FINISHED"].groupby(keys).size()
    # the *_pct metrics are rounded copies in points for MLflow's table, not scores
    score_columns = sorted(
        c for c in trials.columns if c.startswith("test_") and not c.endswith("_pct")
    )
    rows = []
    for key, cell in finished.groupby(keys, sort=False):
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["n_seeds"] = int(cell["seed"].nunique())
        row["n_failed"] = int(failed.get(key, 0))
        for column in score_columns:
            row[f"{column}_mean"] = cell[column].mean()
            row[f"{column}_std"] = cell[column].std(ddof=1)
        for column in ("dev_score", "delta_params", "budget_params"):
            row[f"{column}_mean"] = cell[column].mean() if column in cell else math.nan
        rows.append(row)
    # a cell whose tuning failed has no final run at all: shown, with its failed trials
    tuned_failed = every_phase[every_phase["status"] == "FAILED"].groupby(keys).size()
    for counts in (failed, tuned_failed):
        for key, count in counts.items():
            if not any(tuple(r[k] for k in keys) == key for r in rows):
                row = {**dict(zip(keys, key, strict=True)), "n_seeds": 0, "n_failed": count}
                rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "n_seeds", "n_failed", "test_score_mean"])
    frame["_order"] = frame["budget"].map(budget_key)
    frame = frame.sort_values(["task", "method", "_order"], ignore_index=True)
    return frame.drop(columns="_order")


def seed_scores(trials: pd.DataFrame) -> list[SeedScore]:
    """Each finished final run of a trials table: its test score, test size and sizes."""
    finished = _latest_finished(trials[trials["phase"] == "final"])
    finished = (
        finished[finished["test_score"].notna()] if "test_score" in finished else finished.iloc[0:0]
    )
    accuracy = _accuracy_only(finished)
    scores = []
    for row in finished.to_dict("records"):
        n_test = _optional(row, "n_test")
        scores.append(
            SeedScore(
                task=str(row["task"]),
                method=str(row["method"]),
                budget=str(row["budget"]),
                seed=int(row["seed"]),
                score=float(row["test_score"]),
                n_test=None if n_test is None else int(n_test),
                delta_params=_optional(row, "delta_params"),
                backbone_params=_optional(row, "backbone_params"),
                accuracy_only=str(row["task"]) in accuracy,
                test_capped=_test_capped(row),
            )
        )
    return scores


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow's "Downloading artifacts" bar off for a download, unless the user set it."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if name in os.environ:
        yield
        return
    os.environ[name] = "false"
    try:
        yield
    finally:
        os.environ.pop(name, None)


class Client:
    """Read sweeps, trials, aggregated results and artifacts from one MLflow experiment."""

    def __init__(self, tracking_uri: str | None = None, experiment: str = "s3delta") -> None:
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.experiment_name = experiment
        missing = missing_sqlite_store(self.tracking_uri)
        if missing is not None:  # reading must never create a store
            raise ResultsError(
                f"no MLflow store at {missing} (tracking URI {self.tracking_uri}); run a sweep "
                "first, run from the folder holding runs/, or pass --tracking-uri / set "
                "MLFLOW_TRACKING_URI or S3DELTA_HOME"
            )
        self.mlflow = MlflowClient(tracking_uri=self.tracking_uri)
        found = self.mlflow.get_experiment_by_name(experiment)
        if found is None:
            known = sorted(e.name for e in self.mlflow.search_experiments())
            raise ResultsError(
                f"experiment {experiment!r} not found in tracking store {self.tracking_uri}; "
                f"known experiments: {known or 'none'}. Pass --experiment/experiment= one of "
                "these, or point --tracking-uri / MLFLOW_TRACKING_URI at the store the sweep used."
            )
        self.experiment_id: str = found.experiment_id
        self._download_dir = Path(tempfile.mkdtemp(prefix="s3delta-artifacts-"))
        weakref.finalize(self, shutil.rmtree, self._download_dir, True)

    # ---- raw searches -------------------------------------------------------------
    def _search(self, filter_string: str) -> list[Run]:
        """All runs matching a filter, following MLflow's pagination."""
        return search_all(self.mlflow, [self.experiment_id], filter_string)

    def _sweep_run(self, sweep: str) -> Run:
        """The parent run of a sweep, or an error listing the known sweeps."""
        runs = self._search(tags_filter({KIND_TAG: "sweep", SWEEP_TAG: sweep}))
        if not runs:
            known = sorted(self.sweeps()["name"])
            raise UnknownSweepError(
                f"sweep {sweep!r} not found in experiment {self.experiment_name!r} "
                f"({self.tracking_uri}); known sweeps: {known or 'none'}"
            )
        return max(runs, key=lambda r: r.info.start_time or 0)

    # ---- tables -------------------------------------------------------------------
    def sweeps(self) -> pd.DataFrame:
        """One row per sweep: name, run_id, status, start_time, n_trials."""
        parents = self._search(f"tags.`{TAG}kind` = 'sweep'")
        trial_counts: dict[str, int] = {}
        for run in self._search(f"tags.`{TAG}kind` = 'trial'"):
            name = run.data.tags.get(f"{TAG}sweep", "")
            trial_counts[name] = trial_counts.get(name, 0) + 1
        rows = [
            {
                "name": run.data.tags.get(f"{TAG}sweep", ""),
                "run_id": run.info.run_id,
                "status": run.info.status,
                "start_time": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
                "n_trials": trial_counts.get(run.data.tags.get(f"{TAG}sweep", ""), 0),
            }
            for run in parents
        ]
        columns = ["name", "run_id", "status", "start_time", "n_trials"]
        return pd.DataFrame(rows, columns=columns).sort_values("start_time", ignore_index=True)

    def sweep_run_id(self, sweep: str) -> str:
        """Run id of a sweep's parent run (where reports are logged)."""
        return self._sweep_run(sweep).info.run_id

    def trials(self, sweep: str, phase: str | None = "final") -> pd.DataFrame:
        """One row per trial run of a sweep (``phase`` "final", "tune" or None for both).

        Columns: run_id, status, start_time, end_time, the s3delta tags (seed as int)
        and every logged metric's latest value under its own name (`trials_table`).
        """
        if phase not in ("final", "tune", None):
            raise ResultsError(f"phase {phase!r} is not one of 'final', 'tune' or None (both)")
        self._sweep_run(sweep)
        tags = {KIND_TAG: "trial", SWEEP_TAG: sweep}
        query = tags_filter(tags if phase is None else {**tags, f"{TAG}phase": phase})
        return trials_table(trial_row(run) for run in self._search(query))

    def results(self, sweep: str) -> pd.DataFrame:
        """Final-phase results per (task, method, budget): mean/std over seeds (`results_table`;
        tuning runs are read too, so a cell whose tuning failed shows with its failures)."""
        return results_table(self.trials(sweep, phase=None))

    def seed_scores(self, sweep: str) -> list[SeedScore]:
        """Each finished final run's test score with its test size and sizes (for `compare`)."""
        return seed_scores(self.trials(sweep, phase="final"))

    def compare(
        self, sweep: str, baseline: str | None = None, method: str = SEARCHED_METHOD
    ) -> Comparison:
        """``method`` against ``baseline`` and every other baseline, paired by seed.

        Per task and budget: mean paired difference in points, its 95% t-interval,
        paired t-test and Wilcoxon p, wins/ties/losses, missing pairs, % of fine-tuning;
        then rows pooled over tasks (see `orchestrator.results.comparison`). ``baseline``
        defaults to the one the sweep added seeds against (`seeds.baseline`, recorded on
        its cells), else random.
        """
        cells = self._search(tags_filter({KIND_TAG: "cell", SWEEP_TAG: sweep}))
        if baseline is None:
            baseline = seeds_baseline(cells, method) or RANDOM_METHOD
        comparison = compare_scores(self.seed_scores(sweep), method=method, baseline=baseline)
        return with_verdicts(comparison, cells)

    def costs(self, sweep: str, comparison: Comparison | None = None) -> SweepCosts:
        """What the sweep cost: per cell, in total, and per point gained over random
        (`orchestrator.results.costs.SweepCosts`); ``comparison`` defaults to `compare`
        against random (none when too few runs finished to pair)."""
        if comparison is None:
            try:
                comparison = self.compare(sweep, baseline=RANDOM_METHOD)
            except (ResultsError, ValueError):
                comparison = None
        return sweep_costs(
            self.trials(sweep, phase=None), comparison, SEARCHED_METHOD, RANDOM_METHOD
        )

    # ---- single runs --------------------------------------------------------------
    def best_run_id(self, sweep: str, task: str, budget: str, method: str = SEARCHED_METHOD) -> str:
        """The finished final run of ``method`` with the best dev score for a cell.

        Ties go to the lowest seed so the answer is reproducible.
        """
        trials = self.trials(sweep, phase="final")
        of_method = trials[trials["method"] == method]
        if task not in set(of_method["task"]):
            raise ResultsError(
                f"sweep {sweep!r} has no final {method} run for task {task!r}; "
                f"tasks with one: {sorted(set(of_method['task']))}"
            )
        of_task = of_method[of_method["task"] == task]
        cell = of_task[[_same_budget(b, str(budget)) for b in of_task["budget"]]]
        if cell.empty:
            raise ResultsError(
                f"sweep {sweep!r} has no final {method} run for task {task!r} at budget "
                f"{budget!r}; budgets with one: {sorted(set(of_task['budget']), key=budget_key)}"
            )
        done = cell[(cell["status"] == "FINISHED") & cell["dev_score"].notna()]
        if done.empty:
            raise ResultsError(
                f"every final {method} run of sweep {sweep!r}, task {task!r}, budget {budget!r} "
                f"failed or has no dev_score (runs: {list(cell['run_id'])}); rerun that cell"
            )
        best = done.sort_values(["dev_score", "seed"], ascending=[False, True]).iloc[0]
        return str(best["run_id"])

    def best_structure(self, sweep: str, task: str, budget: str) -> Structure:
        """The searched structure of the best-dev s3delta final run of a cell."""
        run_id = self.best_run_id(sweep, task, budget)
        return Structure.from_dict(self.structure_dict(run_id), source=f"run {run_id}")

    def structure_dict(self, run_id: str) -> dict[str, Any]:
        """A run's ``structure.json`` as a dict, checked to be a Structure JSON."""
        path = self.run_artifact(run_id, "structure.json")
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != "s3delta.structure":
            raise ResultsError(
                f"{path} (run {run_id}) is not a Structure JSON: expected an object with "
                "'format': 's3delta.structure'"
            )
        return data

    def run_artifact(self, run_id: str, name: str) -> Path:
        """Local path of one artifact of a run (downloaded once, then reused)."""
        target = self._download_dir / run_id / name
        if target.exists():
            return target
        folder = str(Path(name).parent)
        # top-level artifacts are listed with no path: "." makes an mlflow server answer
        # "./name", which would never match
        listed = self.mlflow.list_artifacts(run_id, None if folder == "." else folder)
        available = {str(Path(f.path)) for f in listed}
        if str(Path(name)) not in available:
            everything = [f.path for f in self.mlflow.list_artifacts(run_id)]
            raise ResultsError(
                f"run {run_id} has no artifact {name!r}; its artifacts: {everything or 'none'}"
            )
        dst = self._download_dir / run_id
        dst.mkdir(parents=True, exist_ok=True)
        with _no_progress_bar():  # one small file: MLflow's bar would be noise
            return Path(self.mlflow.download_artifacts(run_id, name, dst_path=str(dst)))

    def probabilities(self, run_id: str) -> dict[str, float]:
        """Candidate name -> keep-probability p from a run's ``probabilities.json``."""
        path = self.run_artifact(run_id, "probabilities.json")
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ResultsError(f"{path} (run {run_id}) must hold an object name -> p")
        return {str(k): float(v) for k, v in data.items()}

    def metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        """Every logged value of a step metric: columns step, value, timestamp."""
        history = self.mlflow.get_metric_history(run_id, key)
        if not history:
            known = sorted(self.mlflow.get_run(run_id).data.metrics)
            raise ResultsError(f"run {run_id} has no metric {key!r}; its metrics: {known}")
        frame = pd.DataFrame(
            [(m.step, m.value, m.timestamp) for m in history],
            columns=["step", "value", "timestamp"],
        )
        return frame.sort_values(["step", "timestamp"], ignore_index=True)

    # ---- write side: reports on the sweep run, trained deltas -------------------------
    def log_comparison(
        self, sweep: str, comparison: Comparison | None = None, run_id: str | None = None
    ) -> dict[str, float]:
        """Log the comparison's figures as metrics of the sweep's parent run; returns them.

        Names: ``compare/<task>/<budget>/<baseline>/<figure>`` (see
        `orchestrator.results.comparison_metrics`); NaN figures (n too small) are not logged.
        """
        values = comparison_metrics(comparison or self.compare(sweep))
        log_metrics(self.mlflow, run_id or self.sweep_run_id(sweep), values)
        return values

    def log_costs(self, costs: SweepCosts, run_id: str) -> dict[str, float]:
        """Log a sweep's total cost and cost per point over random (`orchestrator.results.costs`)
        as metrics of ``run_id`` (the sweep's parent run); returns them."""
        values = cost_metrics(costs, metric_part)
        log_metrics(self.mlflow, run_id, values)
        return values

    def load_delta(self, run_id: str, model_name: str | None = None) -> Any:
        """The run's backbone with its trained deltas and head applied (a `TaskModel`)."""
        from workers.delta_loading import load_trained  # torch: see the top

        return load_trained(self.run_artifact(run_id, "delta.safetensors"), model_name)

    def export(
        self, run_id: str, out_dir: str | Path, format: str = "peft", partial: bool = False
    ) -> Any:
        """Write a trial's trained deltas to ``out_dir`` as a PEFT adapter or natively,
        with a model card; returns a `workers.export.ExportReport` (see there: the folder is
        complete or absent, and a PEFT export's change in output is measured).

        ``run_id``: an MLflow run id of a trial, or a local trial folder (its output_dir)."""
        from workers.export import card_from_run, export_delta  # torch: see the top

        folder = Path(run_id).expanduser()
        if folder.is_dir() and (folder / MASK_FILE).is_file():
            run = self._run_of_folder(folder.absolute())
            return export_mask_run(folder / MASK_FILE, out_dir, format, run)
        if folder.is_dir():
            delta = folder / "delta.safetensors"
            if not delta.is_file():
                raise ResultsError(
                    f"{folder} has no delta.safetensors; give a finished trial's folder "
                    "(runs/<sweep>/trials/<trial>) or an MLflow run id"
                )
            run = self._run_of_folder(folder.absolute())
        else:
            run = self._trial_run(run_id)
            if run.data.tags.get(f"{TAG}method") == "random-mask":
                return export_mask_run(self.run_artifact(run_id, MASK_FILE), out_dir, format, run)
            delta = self._delta_of(run)
        card = (
            None if run is None else card_from_run(run.data.tags, run.data.metrics, run.info.run_id)
        )
        return export_delta(delta, out_dir, format, partial, card)  # type: ignore[arg-type]

    def _delta_of(self, run: Run) -> Path:
        """A trial run's delta.safetensors, or a ResultsError saying which runs have one."""
        tags = run.data.tags
        if tags.get(f"{TAG}kind") not in (None, "trial"):
            raise ResultsError(
                f"run {run.info.run_id} is a {tags[f'{TAG}kind']} run, not a trial; give a "
                "trial's run id, e.g. `s3delta best SWEEP --task T --budget B --run-id`"
            )
        try:
            return self.run_artifact(run.info.run_id, "delta.safetensors")
        except ResultsError as err:
            method = tags.get(f"{TAG}method", "this method")
            raise ResultsError(
                f"{err}. Only trials with a structure (s3delta, random, manual/..., "
                f"transfer/...) write delta.safetensors; {method} trials have none to export"
            ) from None

    def _trial_run(self, run_id: str) -> Run:
        """The run with this id, or a ResultsError saying what to pass instead."""
        looks_like_path = "/" in run_id or run_id.startswith(".") or run_id.startswith("~")
        if looks_like_path:
            raise ResultsError(
                f"no folder {run_id!r} (from {Path.cwd()}); give an existing trial folder "
                "or an MLflow run id"
            )
        try:
            return self.mlflow.get_run(run_id)
        except Exception:  # MlflowException (RESOURCE_DOES_NOT_EXIST, bad id)
            raise ResultsError(
                f"no run {run_id!r} in {self.tracking_uri}; give a trial's run id (MLflow UI, "
                "`s3delta best SWEEP --task T --budget B --run-id`) or a local trial folder"
            ) from None

    def _run_of_folder(self, folder: Path) -> Run | None:
        """The trial run whose outputs are in ``folder`` (for the model card), if recorded."""
        runs = self._search(f"tags.`{TAG}local.output_dir` = {quote(str(folder))}")
        return max(runs, key=lambda r: r.info.start_time or 0) if runs else None


MASK_FILE = "random_mask.safetensors"  # a random-mask trial's weights (no structure)


def export_mask_run(path: Path, out_dir: str | Path, fmt: str, run: Run | None) -> Any:
    """A random-mask trial exported natively: its weights are the backbone's own."""
    from workers.export import ExportError, card_from_run  # torch: see the top
    from workers.mask_export import export_masked

    if fmt != "native":
        raise ExportError(
            "a random-mask trial trains the backbone's own weights, which PEFT cannot hold as "
            "an adapter; export it with --format native (a plain transformers model)"
        )
    card = None if run is None else card_from_run(run.data.tags, run.data.metrics, run.info.run_id)
    return export_masked(path, out_dir, card)


def seeds_baseline(cells: Iterable[Run], method: str) -> str | None:
    """The baseline ``method``'s cells added seeds against (`seeds: {until: decided}`), when
    the sweep names exactly one."""
    named = {
        run.data.tags[f"{TAG}seeds_baseline"]
        for run in cells
        if run.data.tags.get(f"{TAG}method") == method and f"{TAG}seeds_baseline" in run.data.tags
    }
    return named.pop() if len(named) == 1 else None


def with_verdicts(comparison: Comparison, cells: Iterable[Run]) -> Comparison:
    """``comparison`` with each seeds-until-decided pair's verdict on its rows: the driver
    records it on the compared method's cell run (`runner.seed_pairs`)."""
    found = {}
    for run in cells:
        tags = run.data.tags
        verdict = tags.get(f"{TAG}seeds_verdict")
        if verdict is None or tags.get(f"{TAG}method") != comparison.method:
            continue
        ident = (tags.get(f"{TAG}task"), tags.get(f"{TAG}budget"), tags.get(f"{TAG}seeds_baseline"))
        found[ident] = (
            verdict,
            int(tags.get(f"{TAG}seeds_used", "0")),
            run.data.metrics.get("seeds_ci_low"),
            run.data.metrics.get("seeds_ci_high"),
        )
    if not found:
        return comparison
    rows = []
    for row in comparison.rows:
        hit = None if row.pooled else found.get((row.task, row.budget, row.baseline))
        if hit is not None:
            row = replace(
                row, verdict=hit[0], seeds_used=hit[1], seq_ci_low=hit[2], seq_ci_high=hit[3]
            )
        rows.append(row)
    return replace(comparison, rows=tuple(rows))
