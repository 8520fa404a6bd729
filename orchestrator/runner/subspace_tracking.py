"""MLflow records of a subspace sweep.

- one parent run per sweep (tag ``s3delta.kind = subspace-sweep``; the sweep YAML);
- under it one run per experiment (task x seed; tag ``s3delta.kind = subspace``) with
  the config as params, the mean subspace and transfer percentages as metrics, and the
  artifacts: encoders and decoders, v, the landscape grid (safetensors / JSON);
- under each experiment run one child run per stage-0 DET (``stage0/<det>``: its size,
  knob, own-space scores), one for stage 1 (losses, reconstruction errors) and one per
  stage-2 DET (``stage2/<det>``: subspace scores, its lr, and the transfer of its v to
  every other DET's decoder, raw and in % of the target DET's own score).

Every score, size and d is a metric or param, so the results table reads MLflow alone.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag

from orchestrator.results.query import KIND_TAG, PARENT_TAG, SWEEP_TAG, tags_filter
from orchestrator.results.subspace import KIND_EXPERIMENT, KIND_SWEEP
from orchestrator.runner.writer import MlflowWriter, param_text

STAGE1_METRICS_MAX = 1000  # stage 1's training history: the first 1,000 points are logged


def experiment_key(task: str, seed: int) -> str:
    return f"{task}/seed{seed}"


def _metrics(values: dict[str, Any]) -> list[Metric]:
    out = []
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(Metric(name, float(value), 0, 0))
    return out


def _flat_params(config: dict[str, Any]) -> list[Param]:
    return [Param(k, param_text(v)) for k, v in sorted(config.items()) if k != "extra"]


class SubspaceTracker(MlflowWriter):
    """Writes (and on resume, reads) a subspace sweep's runs."""

    def find_parent(self, sweep: str) -> str | None:
        run = self.newest(tags_filter({KIND_TAG: KIND_SWEEP, SWEEP_TAG: sweep}))
        return None if run is None else str(run.info.run_id)

    def start_parent(self, sweep: str, sweep_yaml: Path, resume_id: str | None) -> str:
        if resume_id is not None:
            self.client.update_run(resume_id, status="RUNNING")
            self.client.set_tag(resume_id, "s3delta.state", "running")  # not its last end's
            return resume_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=sweep,
            tags={"s3delta.kind": KIND_SWEEP, "s3delta.sweep": sweep},
        )
        run_id = run.info.run_id
        self.client.log_artifact(run_id, str(sweep_yaml))
        return run_id

    def end_parent(self, run_id: str, status: str) -> None:
        """Close the sweep run; `s3delta.state` says how (KILLED: a stop signal)."""
        state = {"FINISHED": "finished", "KILLED": "interrupted"}.get(status, "failed")
        self.client.set_tag(run_id, "s3delta.state", state)
        self.client.set_terminated(run_id, status=status)

    def experiment_runs(self, parent_id: str) -> list[Any]:
        return self.runs(tags_filter({PARENT_TAG: parent_id, KIND_TAG: KIND_EXPERIMENT}))

    def finished_keys(self, parent_id: str) -> set[str]:
        return {
            r.data.tags.get("s3delta.key", "")
            for r in self.experiment_runs(parent_id)
            if r.info.status == "FINISHED"
        }

    def close_unfinished(self, parent_id: str) -> None:
        """Runs an interrupted driver left RUNNING: closed as failed (their experiments rerun)."""
        for run in self.experiment_runs(parent_id):
            if run.info.status == "RUNNING":
                self.client.set_tag(run.info.run_id, "s3delta.state", "interrupted")
                self.client.set_terminated(run.info.run_id, status="FAILED")

    def _child(self, parent_id: str, name: str, tags: dict[str, str]) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"mlflow.parentRunId": parent_id, **tags},
        )
        return str(run.info.run_id)

    def log_failure(
        self, parent_id: str, task: str, seed: int, config: dict[str, Any], error: str
    ) -> None:
        run_id = self._experiment_run(parent_id, task, seed, config)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "error.txt").write_text(error)
            self.client.log_artifact(run_id, str(Path(tmp) / "error.txt"))
        self.client.set_terminated(run_id, status="FAILED")

    def _experiment_run(self, parent_id: str, task: str, seed: int, config: dict[str, Any]) -> str:
        key = experiment_key(task, seed)
        run_id = self._child(
            parent_id,
            f"{task} seed {seed}",
            {
                "s3delta.kind": KIND_EXPERIMENT,
                "s3delta.key": key,
                "s3delta.task": task,
                "s3delta.seed": str(seed),
            },
        )
        self.log_batches(run_id, params=_flat_params(config))
        return run_id

    def log_experiment(self, parent_id: str, task: str, seed: int, result: dict[str, Any]) -> str:
        """The experiment run, its stage runs and its artifacts; FINISHED last, so a
        driver that dies half-way leaves a RUNNING run that --resume redoes."""
        run_id = self._experiment_run(parent_id, task, seed, result["config"])
        names = [d["name"] for d in result["dets"]]
        self.log_batches(
            run_id,
            metrics=_metrics(
                {
                    "d": result["d"],
                    "subspace_pct_mean": result["subspace_pct_mean"],
                    "transfer_pct_mean": result["transfer_pct_mean"],
                    "wall_time_s": result["wall_time_s"],
                }
            ),
            tags=[RunTag("s3delta.dets", ",".join(names))],
        )
        tags = {"s3delta.kind": "subspace-stage", "s3delta.key": experiment_key(task, seed)}
        for det in result["dets"]:
            child = self._child(
                run_id, f"stage0/{det['name']}", {**tags, "s3delta.det": det["name"]}
            )
            values = {k: det[k] for k in ("delta_size", "head_size", "theta_size", "value")}
            values.update(original_dev=det["original_dev"], original_test=det["original_test"])
            values.update({f"test_{k}": v for k, v in det["original_metrics"].items()})
            self.client.log_batch(
                child, metrics=_metrics(values), params=[Param(det["knob"], str(det["value"]))]
            )
            self.client.set_terminated(child)
        stages = result.get("stages", {})
        child = self._child(run_id, "stage1", tags)
        stage1 = {
            f"recon_error_{n}": e
            for n, e in zip(names, stages.get("recon_errors", []), strict=False)
        }
        history = stages.get("history", [])
        if history:
            stage1.update({f"final_{k}": v for k, v in history[-1].items() if k != "step"})
        metrics = _metrics(stage1)
        metrics += [
            Metric(f"train_{k}", float(v), 0, int(h["step"]))
            for h in history
            for k, v in h.items()
            if k != "step"
        ]
        self.log_batches(child, metrics=metrics[:STAGE1_METRICS_MAX])
        self.client.set_terminated(child)
        raw, pct = result["transfer_test"], result["transfer_pct"]
        for i, det in enumerate(result["dets"]):
            child = self._child(
                run_id, f"stage2/{det['name']}", {**tags, "s3delta.det": det["name"]}
            )
            values = {
                "subspace_dev": det["subspace_dev"],
                "subspace_test": det["subspace_test"],
                "subspace_pct": det["subspace_pct"],
                "stage2_lr": stages.get("stage2_lr", {}).get(det["name"], float("nan")),
            }
            for j, target in enumerate(names):
                if j != i:
                    values[f"transfer_to_{target}_test"] = raw[i][j]
                    values[f"transfer_to_{target}_pct"] = pct[i][j]
            self.client.log_batch(child, metrics=_metrics(values))
            self.client.set_terminated(child)
        with tempfile.TemporaryDirectory() as tmp:
            summary = {k: result[k] for k in ("transfer_test", "transfer_pct", "points", "v", "d")}
            summary["dets"] = result["dets"]
            (Path(tmp) / "subspace_result.json").write_text(json.dumps(summary, indent=2))
            self.client.log_artifact(run_id, str(Path(tmp) / "subspace_result.json"))
        for path in result.get("artifacts", {}).values():
            if Path(path).is_file():
                self.client.log_artifact(run_id, path, artifact_path="subspace")
        self.client.set_terminated(run_id)
        return run_id
