"""MLflow records of a sweep: one parent run, one child run per trial.

Layout: docs/design.md "MLflow layout". Child runs are written by the driver *after*
a trial's result has come back (step metrics come from the progress events the
driver collected on the way), so a trial retried by Ray after a lost worker never
leaves a half-written or duplicate run: the rule is exactly one FINISHED run per
`s3delta.key`. Pruned trials are recorded as KILLED, crashed ones as FAILED.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from orchestrator.paths import redact_url
from orchestrator.runner.keys import TrialKey

PARAM_MAX = 6000
BATCH_MAX = 900
ARTIFACT_NAMES = ("structure.json", "probabilities.json", "delta.safetensors")
VERSIONED_PACKAGES = ("s3delta", "torch", "transformers", "ray", "optuna", "mlflow", "peft")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


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


class SweepTracker:
    """Writes the sweep's parent run and its trials' child runs."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None) -> None:
        # one "View run at" line per child run would drown the progress output
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.experiment_id = self._experiment_id(experiment, artifact_root)
        self.parent_id: str | None = None

    def _experiment_id(self, name: str, artifact_root: Path | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = (artifact_root / name).as_uri() if artifact_root else None
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except Exception:  # created concurrently by another driver
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    # -- parent run -------------------------------------------------------------------
    def find_parent(self, sweep: str) -> str | None:
        """The newest parent run of this sweep in the experiment, if any."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`s3delta.kind` = 'sweep' and tags.`s3delta.sweep` = {_quote(sweep)}"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

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
        if resume_id:
            self.client.update_run(resume_id, status="RUNNING")
            run_id = resume_id
            tags["s3delta.resumed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            run_id = self.client.create_run(self.experiment_id, run_name=sweep).info.run_id
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(sweep_yaml, Path(tmp) / "sweep.yaml")
            (Path(tmp) / "plan.json").write_text(json.dumps(plan, indent=2, default=str))
            self.client.log_artifacts(run_id, tmp)
        self.parent_id = run_id
        return run_id

    def end_parent(self, status: str) -> None:
        """Close the parent run (FINISHED, FAILED or KILLED)."""
        if self.parent_id is not None:
            self.client.set_terminated(self.parent_id, status=status)

    # -- child runs -------------------------------------------------------------------
    def recorded(self, sweep: str) -> dict[str, dict[str, Any]]:
        """Per key text, the recorded outcome of this sweep's trials: status and scores.

        FINISHED wins over KILLED wins over FAILED when a key has several runs."""
        rank = {"FINISHED": 3, "KILLED": 2, "FAILED": 1}
        found: dict[str, dict[str, Any]] = {}
        page = None
        while True:
            runs = self.client.search_runs(
                [self.experiment_id],
                filter_string=(
                    f"tags.`s3delta.kind` = 'trial' and tags.`s3delta.sweep` = {_quote(sweep)}"
                ),
                max_results=1000,
                page_token=page,
            )
            for run in runs:
                key = run.data.tags.get("s3delta.key")
                status = run.info.status
                if not key or status not in rank:
                    continue
                if key in found and rank[found[key]["status"]] >= rank[status]:
                    continue
                found[key] = {
                    "status": status,
                    "run_id": run.info.run_id,
                    "dev_score": run.data.metrics.get("dev_score"),
                    "delta_params": run.data.metrics.get("delta_params"),
                    "wall_time_s": run.data.metrics.get("wall_time_s"),
                }
            page = runs.token
            if not page:
                return found

    def log_trial(
        self,
        key: TrialKey,
        config: dict[str, Any],
        outcome: dict[str, Any],
        events: Iterable[dict[str, Any]],
        attempts: int,
    ) -> str:
        """Write one child run for a trial that has ended; return its run id."""
        tags = {
            **key.tags(),
            "mlflow.parentRunId": self.parent_id or "",
            "s3delta.seed": str(config.get("seed")),
            "s3delta.attempts": str(attempts),
            "s3delta.state": outcome["status"],
        }
        run = self.client.create_run(self.experiment_id, run_name=key.run_name, tags=tags)
        run_id = run.info.run_id
        status = "FAILED"
        try:
            self._log_batches(run_id, params=_params(config), metrics=_step_metrics(events))
            if outcome["status"] == "ok":
                result = outcome["result"]
                self.client.set_tag(run_id, "s3delta.device", str(result.get("device")))
                self._log_batches(run_id, metrics=_result_metrics(result))
                self._log_result_artifacts(run_id, result)
                status = "FINISHED"
            elif outcome["status"] == "pruned":
                status = "KILLED"
            else:
                self.client.set_tag(run_id, "s3delta.error", str(outcome.get("error"))[-4900:])
        finally:
            self.client.set_terminated(run_id, status=status)
        return run_id

    def _log_batches(
        self, run_id: str, params: Sequence[Param] = (), metrics: Sequence[Metric] = ()
    ) -> None:
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start : start + 100])
        for start in range(0, len(metrics), BATCH_MAX):
            self.client.log_batch(run_id, metrics=metrics[start : start + BATCH_MAX])

    def _log_result_artifacts(self, run_id: str, result: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for name, path in (result.get("artifacts") or {}).items():
                if Path(path).is_file():
                    shutil.copyfile(path, folder / name)
            if result.get("structure") is not None and not (folder / "structure.json").exists():
                (folder / "structure.json").write_text(json.dumps(result["structure"], indent=2))
            probs = result.get("probabilities")
            if probs is not None and not (folder / "probabilities.json").exists():
                (folder / "probabilities.json").write_text(json.dumps(probs, indent=2))
            if any(folder.iterdir()):
                self.client.log_artifacts(run_id, tmp)

    def tags_for_parent(self, **values: str) -> dict[str, str]:
        """Extra parent tags with credentials removed from URLs."""
        return {f"s3delta.{k}": redact_url(v) for k, v in values.items()}


def _params(config: dict[str, Any]) -> list[Param]:
    params = []
    for name, value in sorted(config.items()):
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        params.append(Param(name, text[:PARAM_MAX]))
    return params


def _metric(name: str, value: Any, step: int = 0, stamp: int | None = None) -> Metric | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return Metric(name, number, stamp or int(time.time() * 1000), step)


def _result_metrics(result: dict[str, Any]) -> list[Metric]:
    values: dict[str, Any] = {
        "dev_score": result.get("dev_score"),
        "test_score": result.get("test_score"),
        "delta_params": result.get("delta_params"),
        "head_params": result.get("head_params"),
        "backbone_params": result.get("backbone_params"),
        "budget_params": result.get("budget_params"),
        "wall_time_s": result.get("wall_time_s"),
    }
    backbone = result.get("backbone_params") or 0
    if backbone:
        values["budget_fraction"] = (result.get("delta_params") or 0) / backbone
    for split in ("dev", "test", "search_dev"):
        for metric, value in (result.get(split) or {}).items():
            values[f"{split}_{metric}"] = value
    # how decided the search's gates were, and the discretisation gap (s3delta only)
    for name, value in (result.get("search_diagnostics") or {}).items():
        values[f"search_{name}"] = value
    # where the trial's wall time went (workers.timings): time_<bucket>_s
    for bucket, seconds in (result.get("timings") or {}).items():
        values[f"time_{bucket}_s"] = seconds
    # n_test etc.: the paired comparison shows how many examples a test score rests on
    for split, size in (result.get("split_sizes") or {}).items():
        values[f"n_{split}"] = size
    metrics = [_metric(name, value) for name, value in values.items()]
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
