"""MLflow records of a sweep: sweep run -> one run per cell -> one run per trial.

Layout: docs/design.md "MLflow layout". A trial's run is created RUNNING when the
trial starts and its step metrics are logged as the progress events arrive, so the
MLflow UI shows trials live. The rule stays exactly one FINISHED run per `s3delta.key`:
a key that runs again (a Ray retry, a rerun on `--resume`) reuses its earlier run id,
and a metric step already logged in that run is not logged again. Runs a dead driver
left RUNNING are closed as FAILED (tag `s3delta.state=interrupted`) by the next
`--resume`, and reopened when their key runs again. Pruned trials end KILLED, crashed
ones FAILED. Machine-local settings (paths, threads, device) are tags
`s3delta.local.<name>` and the artifact `config.json`, never params, so MLflow's
compare view shows the settings that differ between trials.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Param

from orchestrator.mlflow_links import SHARED_VIEW_TAG, shared_view_state
from orchestrator.no_budget import budget_text
from orchestrator.paths import redact_url
from orchestrator.results.client import TAG, TRIAL_TAGS, trial_row, trials_table
from orchestrator.results.query import KIND_TAG, SWEEP_TAG, quote, tags_filter
from orchestrator.results.structure_metrics import structure_metrics
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.outcome import RecordedTrial, TrialOutcome
from orchestrator.runner.writer import TAG_MAX, MlflowWriter, param_text
from search_space.budget import BudgetError, parse_budget
from workers.trial_types import TrialConfig, TrialResult

ARTIFACT_NAMES = ("structure.json", "probabilities.json", "delta.safetensors")
# settings that name places or resources of one machine: tags and config.json, not params
LOCAL_SETTINGS = (
    "output_dir",
    "checkpoint_dir",
    "cache_dir",
    "data_dir",
    "num_threads",
    "device",
    "logits_from",
    "structure_from",
)
LOCAL_TAG = "s3delta.local."
# the experiment kind that makes MLflow 3 treat the experiment as model training (the UI
# view itself is chosen by the URL, see `orchestrator.mlflow_links`)
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
INTERRUPTED = "interrupted"
STATE_TAG = "s3delta.state"
VERSIONED_PACKAGES = ("s3delta", "torch", "transformers", "ray", "optuna", "mlflow", "peft")


def budget_pct(budget: str | None) -> float | None:
    """A percentage budget as a number ("0.01%" -> 0.01), for MLflow's plots; None for a
    parameter count or no budget."""
    try:
        spec = parse_budget(budget)
    except BudgetError:
        return None
    return spec.value if spec.kind == "relative" else None


def readable_params(
    task: str, method: str, budget: str | None, seed: object, phase: str
) -> list[Param]:
    """What MLflow's table, filters and compare view are built on, on every run:
    ``task``, ``method``, ``budget`` (its text, ``none`` without one), ``seed``, ``phase``
    and, for a percentage budget, ``budget_pct`` (a number: the compare view's axis)."""
    values = {
        "task": task,
        "method": method,
        "budget": budget_text(budget),
        "seed": str(seed),
        "phase": phase,
    }
    pct = budget_pct(budget)
    if pct is not None:
        values["budget_pct"] = f"{pct:g}"
    return [Param(name, param_text(value)) for name, value in values.items()]


def _joined(values: Iterable[object]) -> str:
    """Distinct values in first-seen order, comma-joined (the sweep run's params)."""
    return ", ".join(dict.fromkeys(budget_text(None if v is None else str(v)) for v in values))


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide results."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit(start: Path) -> str:
    """The repository commit of the running code (`unknown` in an unpacked job copy)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class SweepTracker(MlflowWriter):
    """Writes the sweep's parent run and its trials' child runs."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None) -> None:
        super().__init__(tracking_uri, experiment, artifact_root)
        wanted = {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1], SHARED_VIEW_TAG: shared_view_state()}
        for name, value in wanted.items():
            if self.experiment_tags.get(name) != value:
                self.client.set_experiment_tag(self.experiment_id, name, value)
        self.parent_id: str | None = None
        self.cell_ids: dict[tuple[str, str, str], str] = {}
        self.live: dict[str, _LiveRun] = {}  # key text -> the run of a trial in flight
        self.reusable: dict[str, str] = {}  # key text -> an unfinished run of that key
        # run id -> the trial's row as `Client.trials` would read it back: what the driver
        # wrote (and, on resume, read once at the start), so summaries need no read-back
        self.rows: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, dict[str, int]] = {}  # run id -> metric -> step of its value
        self._layers: dict[str, dict[str, int]] = {}

    # -- parent run -------------------------------------------------------------------
    def find_parent(self, sweep: str) -> str | None:
        """The newest parent run of this sweep in the experiment, if any."""
        run = self.newest(tags_filter({KIND_TAG: "sweep", SWEEP_TAG: sweep}))
        return None if run is None else str(run.info.run_id)

    def start_parent(
        self,
        sweep: str,
        sweep_yaml: Path,
        plan: dict[str, Any],
        extra_tags: dict[str, str],
        resume_id: str | None = None,
    ) -> str:
        """Create (or reopen on resume) the parent run and log the YAML and the plan."""
        tags = {"s3delta.kind": "sweep", "s3delta.sweep": sweep, **extra_tags}
        tags.update({f"s3delta.version.{k}": v for k, v in package_versions().items()})
        tags["s3delta.git_commit"] = git_commit(Path(__file__).resolve().parent)
        tags[STATE_TAG] = "running"  # a reopened run's earlier state (interrupted) goes
        if resume_id:
            self.client.update_run(resume_id, status="RUNNING")
            run_id = resume_id
            tags["s3delta.resumed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            run_id = self.client.create_run(self.experiment_id, run_name=sweep).info.run_id
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        cells = [c for c in plan.get("cells", []) if isinstance(c, dict)]
        params = [
            Param("phase", "sweep"),
            *(
                Param(name, param_text(_joined(c.get(name) for c in cells)))
                for name in ("task", "method", "budget")
                if cells
            ),
        ]
        seeds = sorted({int(s) for c in cells for s in c.get("seeds", [])})
        if seeds:
            params.append(Param("seed", param_text(", ".join(map(str, seeds)))))
        self._log_params(run_id, params)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(sweep_yaml, Path(tmp) / "sweep.yaml")
            (Path(tmp) / "plan.json").write_text(json.dumps(plan, indent=2, default=str))
            self.client.log_artifacts(run_id, tmp)
        self.parent_id = run_id
        return run_id

    def end_parent(self, status: str, state: str | None = None) -> None:
        """Close the parent run (FINISHED, FAILED or KILLED).

        A driver that ends early (a stop signal: KILLED, an error: FAILED) closes its
        trial and cell runs still RUNNING as FAILED tagged `s3delta.state=interrupted`
        (`--resume` reruns and reopens them). ``state``: the parent's `s3delta.state`
        (`interrupted` after a stop signal; None: as it is, e.g. the state
        `failures.close_sweep_state` has set)."""
        for key, live in list(self.live.items()):  # trials still in flight (interrupted)
            self.client.set_tag(live.run_id, STATE_TAG, INTERRUPTED)
            self.client.set_terminated(live.run_id, status="FAILED")
            self._ended(live.run_id, "FAILED")
            del self.live[key]
        for run_id in self.cell_ids.values():
            if self.client.get_run(run_id).info.status == "RUNNING":
                ended = status if status == "FINISHED" else "FAILED"
                if ended != "FINISHED":
                    self.client.set_tag(run_id, STATE_TAG, INTERRUPTED)
                self.client.set_terminated(run_id, status=ended)
        if self.parent_id is not None:
            if state is not None:
                self.client.set_tag(self.parent_id, STATE_TAG, state)
            self.client.set_terminated(self.parent_id, status=status)

    # -- cell runs --------------------------------------------------------------------
    def start_cell(self, sweep: str, task: str, method: str, budget: str) -> str:
        """The run of one cell (task x method x budget) under the sweep run, RUNNING.

        On resume the cell's earlier run is reopened, so a cell has one run."""
        ident = (task, method, budget)
        if ident in self.cell_ids:
            return self.cell_ids[ident]
        cell_tags = {KIND_TAG: "cell", SWEEP_TAG: sweep}
        cell_tags.update({TAG + "task": task, TAG + "method": method, TAG + "budget": budget})
        earlier = self.newest(tags_filter(cell_tags))
        run_name = " · ".join((task, method, budget))
        if earlier is not None:
            run_id = earlier.info.run_id
            self.client.update_run(run_id, status="RUNNING", name=run_name)
            if earlier.data.tags.get(STATE_TAG) not in (None, "running"):
                self.client.set_tag(run_id, STATE_TAG, "running")  # not its earlier end's
        else:
            tags = {
                "s3delta.kind": "cell",
                "s3delta.sweep": sweep,
                "s3delta.task": task,
                "s3delta.method": method,
                "s3delta.budget": budget,
                "mlflow.parentRunId": self.parent_id or "",
            }
            run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
            run_id = run_id.info.run_id
        # a cell sums up every seed of both phases: seed "all", phase "cell"
        self._log_params(run_id, readable_params(task, method, budget, "all", "cell"))
        self.cell_ids[ident] = run_id
        return run_id

    def log_summary(self, run_id: str, values: dict[str, float], status: str | None) -> None:
        """Log summary metrics on a cell or the sweep run; close it with ``status`` if given."""
        stamp = int(time.time() * 1000)
        metrics = [m for m in (_metric(k, v, 0, stamp) for k, v in values.items()) if m]
        self._log_batches(run_id, metrics=metrics)
        if status is not None:
            if status == "FINISHED":  # a cell missing seeds is then `failures.close_incomplete`'s
                self.client.set_tag(run_id, STATE_TAG, "finished")
            self.client.set_terminated(run_id, status=status)

    def close_stale(self, sweep: str) -> int:
        """Close the trial and cell runs a dead driver left RUNNING (FAILED, interrupted).

        Called by `--resume` before anything starts; returns how many were closed."""
        closed = 0
        for kind in ("trial", "cell"):
            for run in self.runs(
                f"tags.`s3delta.kind` = '{kind}' and tags.`s3delta.sweep` = {quote(sweep)} "
                "and attributes.status = 'RUNNING'"
            ):
                run_id = run.info.run_id
                self.client.set_tag(run_id, "s3delta.state", INTERRUPTED)
                if kind == "trial":
                    self.client.set_tag(
                        run_id,
                        "s3delta.error",
                        "the driver ended while this trial ran; closed by `s3delta run --resume`",
                    )
                self.client.set_terminated(run_id, status="FAILED")
                closed += 1
        return closed

    # -- child runs -------------------------------------------------------------------
    def recorded(self, sweep: str) -> dict[str, RecordedTrial]:
        """Per key text, the recorded outcome of this sweep's trials: status and scores.

        FINISHED wins over KILLED wins over FAILED when a key has several runs.
        A run closed as interrupted (its driver died) is no outcome: it is only noted in
        `reusable`, so the key's next run reuses its id."""
        rank: dict[str, int] = {"FINISHED": 3, "KILLED": 2, "FAILED": 1}
        found: dict[str, RecordedTrial] = {}
        runs = self.runs(f"tags.`s3delta.kind` = 'trial' and tags.`s3delta.sweep` = {quote(sweep)}")
        for run in sorted(runs, key=lambda r: r.info.start_time or 0):
            self.rows[run.info.run_id] = trial_row(run)
            key = run.data.tags.get("s3delta.key")
            status = run.info.status
            if not key or status not in rank:
                continue
            if status != "FINISHED":
                self.reusable[key] = run.info.run_id
            if run.data.tags.get("s3delta.state") == INTERRUPTED:
                continue
            if key in found and rank[found[key].status] >= rank[status]:
                continue
            found[key] = RecordedTrial(
                status,
                run.info.run_id,
                run.data.metrics.get("dev_score"),
                run.data.metrics.get("delta_params"),
                run.data.metrics.get("wall_time_s"),
                run.data.metrics.get("test_score"),
            )
        return found

    def start_trial(
        self, key: TrialKey, config: TrialConfig, cell_run_id: str | None = None
    ) -> str:
        """Open the trial's run (RUNNING) as the trial starts; return its run id.

        The key's unfinished earlier run (a retry, a rerun after `--resume`) is reused."""
        if key.text in self.live:
            return self.live[key.text].run_id
        values = config.model_dump()
        tags = {
            **key.tags(),
            "mlflow.parentRunId": cell_run_id or self.parent_id or "",
            "s3delta.seed": str(config.seed),
            "s3delta.state": "running",
        }
        tags.update({LOCAL_TAG + k: str(values[k]) for k in LOCAL_SETTINGS})
        # one search, every budget, or a transfer: where this trial's structure came from
        for derived in ("one_search", "transfer"):
            source = (config.extra or {}).get(derived) or {}
            tags.update({f"s3delta.{name}": str(value) for name, value in source.items()})
        reuse = self.reusable.pop(key.text, None) or self._unfinished_run(key)
        live = _LiveRun(reuse or "")
        if reuse:
            self.client.update_run(reuse, status="RUNNING", name=key.run_name)
            for name, value in tags.items():
                self.client.set_tag(reuse, name, value)
            earlier = self.client.get_run(reuse)
            row = self.rows.setdefault(reuse, trial_row(earlier))
            row.update(status="RUNNING", end_time=pd.NaT)
            row.update({name: tags.get(TAG + name) for name in TRIAL_TAGS})
            if "s3delta.error" in earlier.data.tags:
                self.client.delete_tag(reuse, "s3delta.error")
            for metric in earlier.data._metric_objs:
                live.last_step[metric.key] = max(live.last_step.get(metric.key, -1), metric.step)
        else:
            run = self.client.create_run(self.experiment_id, run_name=key.run_name, tags=tags)
            live.run_id = run.info.run_id
            self.rows[live.run_id] = {
                "run_id": live.run_id,
                "status": "RUNNING",
                "start_time": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
                "end_time": pd.NaT,
                **{name: tags.get(TAG + name) for name in TRIAL_TAGS},
            }
        readable = readable_params(key.task, key.method, key.budget, config.seed, key.phase)
        self._log_params(live.run_id, _params(values, readable))
        self.client.log_dict(live.run_id, _plain_config(values), "config.json")
        self.live[key.text] = live
        return live.run_id

    def _log_params(self, run_id: str, params: Sequence[Param]) -> None:
        """Log params; a reused run holding other values keeps the first (tagged)."""
        try:
            self._log_batches(run_id, params=params)
        except Exception as error:
            self.client.set_tag(run_id, "s3delta.param_conflict", str(error)[:TAG_MAX])

    def _unfinished_run(self, key: TrialKey) -> str | None:
        run = self.newest(tags_filter({TAG + "key": key.text}, "attributes.status != 'FINISHED'"))
        return None if run is None else str(run.info.run_id)

    def log_events(self, key: TrialKey | str, events: Iterable[dict[str, Any]]) -> int:
        """Log a running trial's step metrics now; a step already logged is skipped."""
        live = self.live.get(key if isinstance(key, str) else key.text)
        if live is None:
            return 0
        fresh = []
        for metric in _step_metrics(events):
            if metric.step > live.last_step.get(metric.key, -1):
                fresh.append(metric)
        fresh.sort(key=lambda m: m.step)
        for metric in fresh:
            live.last_step[metric.key] = max(live.last_step.get(metric.key, -1), metric.step)
        self._log_batches(live.run_id, metrics=fresh)
        return len(fresh)

    def finish_trial(
        self,
        key: TrialKey,
        config: TrialConfig,
        outcome: TrialOutcome,
        events: Iterable[dict[str, Any]],
        attempts: int,
    ) -> str:
        """Log a trial's outcome into its run and close it; return the run id."""
        run_id = self.start_trial(key, config)
        status = "FAILED"
        try:
            self.client.set_tag(run_id, "s3delta.attempts", str(attempts))
            self.client.set_tag(run_id, "s3delta.state", outcome.status)
            self.log_events(key, events)
            if outcome.result is not None:
                result = outcome.result
                self.client.set_tag(run_id, "s3delta.device", str(result.device))
                for name, value in (result.records or {}).items():  # random-mask: mask_sha256
                    self.client.set_tag(run_id, f"s3delta.{name}", str(value)[:TAG_MAX])
                metrics = _result_metrics(result)
                metrics += self._structure_metrics(result)
                self._log_batches(run_id, metrics=metrics)
                self._log_result_artifacts(run_id, result)
            elif outcome.status == "failed":
                self.client.set_tag(run_id, "s3delta.error", outcome.error[-TAG_MAX:])
            if outcome.result is None:  # a trial that ended early still cost something
                self._log_batches(run_id, metrics=_cost_metrics(outcome.cost))
            status = outcome.run_status
        finally:
            self.client.set_terminated(run_id, status=status)
            self._ended(run_id, status)
            self.live.pop(key.text, None)
        return run_id

    def _ended(self, run_id: str, status: str) -> None:
        row = self.rows.get(run_id)
        if row is not None:
            row.update(status=status, end_time=pd.Timestamp.now(tz="UTC"))

    def trials(self) -> pd.DataFrame:
        """This sweep's trial runs as `Client.trials(sweep, phase=None)` would read them back,
        from what this driver wrote and read at its start: no MLflow read."""
        return trials_table(self.rows.values())

    def _structure_metrics(self, result: TrialResult) -> list[Metric]:
        structure = result.structure
        if not isinstance(structure, dict):
            return []
        values = structure_metrics(
            structure,
            self._n_layers(str(structure.get("backbone") or "")),
            (result.probabilities or {}).keys(),
        )
        return [m for m in (_metric(k, v) for k, v in values.items()) if m is not None]

    def _n_layers(self, backbone: str) -> dict[str, int]:
        """Layers per stack of a backbone (from its config; {} when it cannot be read)."""
        if backbone not in self._layers:
            self._layers[backbone] = backbone_layers(backbone)
        return self._layers[backbone]

    def _log_batches(
        self, run_id: str, params: Sequence[Param] = (), metrics: Sequence[Metric] = ()
    ) -> None:
        self.log_batches(run_id, params=params, metrics=metrics)
        row = self.rows.get(run_id)
        if row is not None:  # a trial run: its latest value per metric, as MLflow keeps it
            steps = self._steps.setdefault(run_id, {})
            for metric in metrics:
                if metric.step >= steps.get(metric.key, -1):
                    steps[metric.key] = metric.step
                    row[metric.key] = metric.value

    def _log_result_artifacts(self, run_id: str, result: TrialResult) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for name, path in result.artifacts.items():
                if Path(path).is_file():
                    shutil.copyfile(path, folder / name)
            if result.structure is not None and not (folder / "structure.json").exists():
                (folder / "structure.json").write_text(json.dumps(result.structure, indent=2))
            probs = result.probabilities
            if probs is not None and not (folder / "probabilities.json").exists():
                (folder / "probabilities.json").write_text(json.dumps(probs, indent=2))
            if any(folder.iterdir()):
                self.client.log_artifacts(run_id, tmp)

    def tags_for_parent(self, **values: str) -> dict[str, str]:
        """Extra parent tags with credentials removed from URLs."""
        return {f"s3delta.{k}": redact_url(v) for k, v in values.items()}


class _LiveRun:
    """A trial run in flight: its id and, per metric, the last step logged."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.last_step: dict[str, int] = {}


def backbone_layers(backbone: str) -> dict[str, int]:
    """``{"encoder": n, "decoder": m}`` from a backbone's config, offline; {} if unreadable."""
    if not backbone:
        return {}
    try:
        from transformers import AutoConfig

        from search_space.backbone import resolve_model_path

        config = AutoConfig.from_pretrained(resolve_model_path(backbone))
    except Exception:  # no config reachable: structure_metrics falls back to layers seen
        return {}
    layers = {}
    encoder = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)
    if encoder:
        layers["encoder"] = int(encoder)
    decoder = getattr(config, "num_decoder_layers", None)
    if decoder and getattr(config, "is_encoder_decoder", False):
        layers["decoder"] = int(decoder)
    return layers


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, default=str))


def _params(config: dict[str, Any], readable: Sequence[Param] = ()) -> list[Param]:
    """The config's settings that can differ between trials; ``readable`` (the key's task,
    method, budget text, seed, phase, budget_pct) stand in for the config's own values."""
    params = list(readable)
    taken = {p.key for p in params}
    for name, value in sorted(config.items()):
        if name in LOCAL_SETTINGS or name in taken:
            continue
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        params.append(Param(name, param_text(text)))
    return params


def _metric(name: str, value: Any, step: int = 0, stamp: int | None = None) -> Metric | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return Metric(name, number, stamp or int(time.time() * 1000), step)


def _result_metrics(result: TrialResult) -> list[Metric]:
    values: dict[str, Any] = {
        "dev_score": result.dev_score,
        "test_score": result.test_score,
        "delta_params": result.delta_params,
        "head_params": result.head_params,
        "backbone_params": result.backbone_params,
        "budget_params": result.budget_params,
        "wall_time_s": result.wall_time_s,
    }
    if result.backbone_params:
        values["budget_fraction"] = (result.delta_params or 0) / result.backbone_params
    # for reading: scores in points (100 x the fraction), 2 decimals; exact: dev_score ...
    values.update(pct_metrics({"dev_score": result.dev_score, "test_score": result.test_score}))
    splits = {"dev": result.dev, "test": result.test, "search_dev": result.search_dev}
    for split, scores in splits.items():
        for metric, value in (scores or {}).items():
            values[f"{split}_{metric}"] = value
    # how decided the search's gates were, and the discretisation gap (s3delta only)
    for name, value in (result.search_diagnostics or {}).items():
        values[f"search_{name}"] = value
    # where the trial's wall time went (workers.timings): time_<bucket>_s
    for bucket, seconds in (result.timings or {}).items():
        values[f"time_{bucket}_s"] = seconds
    metrics: list[Metric | None] = list(_cost_metrics(result.cost))
    # n_test etc.: the paired comparison shows how many examples a test score rests on
    for split, size in (result.split_sizes or {}).items():
        values[f"n_{split}"] = size
    metrics += [_metric(name, value) for name, value in values.items()]
    return [m for m in metrics if m is not None]


def points(value: Any) -> float | None:
    """A score fraction as points for reading: 100 x value, rounded to 2 decimals."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return round(100.0 * number, 2)


def pct_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """``<name>_pct`` (points, 2 decimals) for each score fraction that has a value."""
    values = {f"{name}_pct": points(value) for name, value in scores.items()}
    return {name: value for name, value in values.items() if value is not None}


def _cost_metrics(cost: Any) -> list[Metric]:
    """What a trial cost (`workers.cost`): ``cost_<figure>``, e.g. cost_cpu_s, cost_gpu_s."""
    if not isinstance(cost, dict):
        return []
    metrics = [_metric(f"cost_{name}", value) for name, value in cost.items()]
    return [m for m in metrics if m is not None]


def _step_metrics(events: Iterable[dict[str, Any]]) -> list[Metric]:
    """`<phase>/<metric>` per step; a step seen twice (retried attempt) keeps the newest."""
    latest: dict[tuple[str, int], Metric] = {}
    for event in events:
        for name, value in event.get("metrics", {}).items():
            full = f"{event['phase']}/{name}"
            metric = _metric(full, value, int(event["step"]), int(event["time"] * 1000))
            if metric is not None:
                latest[(full, metric.step)] = metric
    return list(latest.values())
