"""A small real MLflow store for the paired-comparison tests, with hand-chosen scores.

Runs are tagged as the runner tags them (docs/design.md "MLflow layout"). Scores are
listed in points per seed 1, 2, 3 (``None``: that seed failed, a FAILED run is logged).
The expected figures are worked out by hand in tests/orchestrator/test_compare.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

SWEEP = "cmp"
EXPERIMENT = "s3delta"
BACKBONE = 20_000_000
SEEDS = (1, 2, 3)
N_TEST = {"glue/sst2": 200, "glue/cola": 500}
# official split sizes: SST-2's test (the whole validation set, 872) is capped to 200,
# CoLA's (half of 1,043) is not
OFFICIAL = {"glue/sst2": (67349, 872), "glue/cola": (8551, 1043)}
METRIC = {"glue/sst2": "test_accuracy", "glue/cola": "test_mcc"}
# (task, method, budget) -> points per seed (1, 2, 3); None: the run failed
# ("skip": that seed never ran).
SCORES: dict[tuple[str, str, str], tuple[float | str | None, ...]] = {
    ("glue/sst2", "s3delta", "0.01%"): (81, 82, 83),
    ("glue/sst2", "random", "0.01%"): (80, 80, 80),
    ("glue/sst2", "s3delta", "0.05%"): (84, 85, 86),
    ("glue/sst2", "random", "0.05%"): (84, 84, None),
    ("glue/sst2", "s3delta", "5000"): (83, 83, 84),  # no backbone_params logged
    ("glue/sst2", "manual/lnfit", "none"): (80, 81, 85),
    ("glue/sst2", "manual/bitfit", "none"): ("skip", 79, "skip"),
    ("glue/sst2", "finetune", "none"): (85, 86, 87),
    ("glue/cola", "s3delta", "0.01%"): (30, 20, 10),
    ("glue/cola", "random", "0.01%"): (25, 25, 5),
    ("glue/cola", "s3delta", "2000"): (32, 22, 12),  # 2000 / 20M = 0.01%
    ("glue/cola", "random", "2000"): (25, 25, 5),
    ("glue/cola", "finetune", "none"): (40, 40, 40),
}
DELTA_PARAMS = {"manual/lnfit": 4992, "manual/bitfit": 25728, "finetune": BACKBONE}


@dataclass(frozen=True)
class CompareStore:
    tracking_uri: str
    experiment: str
    sweep: str
    parent_run_id: str


def _log_run(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    cell: tuple[str, str, str],
    seed: int,
    points: float | None,
) -> None:
    task, method, budget = cell
    tags = {
        "mlflow.parentRunId": parent_id,
        "s3delta.kind": "trial",
        "s3delta.sweep": SWEEP,
        "s3delta.task": task,
        "s3delta.method": method,
        "s3delta.budget": budget,
        "s3delta.seed": str(seed),
        "s3delta.phase": "final",
        "s3delta.key": f"{SWEEP}|{task}|{method}|{budget}|final|seed={seed}",
    }
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    if points is None:
        client.set_terminated(run_id, status="FAILED")
        return
    score = points / 100
    values = {"test_score": score, METRIC[task]: score, "dev_score": score, "n_test": N_TEST[task]}
    values["n_official_train"], values["n_official_validation"] = OFFICIAL[task]
    if budget != "5000":
        values["backbone_params"] = BACKBONE
    values["delta_params"] = DELTA_PARAMS.get(method, 1900.0)
    metrics = [Metric(k, float(v), 1_000_000, 0) for k, v in values.items()]
    client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id, status="FINISHED")


def write_compare_store(root: Path) -> CompareStore:
    """Log the sweep ``cmp`` (parent + final runs) into ``root/mlflow.db``."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(root / "art").as_uri())
    parent = client.create_run(
        experiment_id, tags={"s3delta.kind": "sweep", "s3delta.sweep": SWEEP}, run_name=SWEEP
    ).info.run_id
    for cell, scores in SCORES.items():
        for seed, points in zip(SEEDS, scores, strict=True):
            if points != "skip":
                _log_run(client, experiment_id, parent, cell, seed, points)  # type: ignore[arg-type]
    client.set_terminated(parent, status="FINISHED")
    return CompareStore(uri, EXPERIMENT, SWEEP, parent)
