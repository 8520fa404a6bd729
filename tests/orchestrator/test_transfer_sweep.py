"""transfer/<task> in a sweep: the plan, and a real sweep on embedded Ray whose transfer
cell retrains exactly the source task's searched structure of each seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    trial_runs,
)

from orchestrator.sweep import build_plan, parse_sweep

SWEEP = """
name: transfer
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2, glue/rte, glue/cola]
methods: [s3delta, random, transfer/glue/sst2, transfer/glue/rte]
budgets: ["0.01%", "0.05%"]
seeds: [1, 2, 3]
search_space:
  delta_lr: {distribution: log_uniform, min: 1e-4, max: 3e-2}
optuna: {trials_per_cell: 4}
"""


def test_transfer_cells_take_each_source_cell_at_the_same_budget(tmp_path: Path) -> None:
    plan = build_plan(parse_sweep(SWEEP, tmp_path))
    transfers = [c for c in plan.cells if c.method.startswith("transfer/")]
    # per budget: sst2 <- rte; rte <- sst2; cola <- both; none on a task from itself
    assert len(transfers) == 2 * 4
    for cell in transfers:
        source = cell.method.partition("/")[2]
        assert source != cell.task and cell.source_task == source
        assert cell.source_ident == (source, "s3delta", cell.budget)
        assert cell.n_tune_trials == 0 and cell.seeds == (1, 2, 3)
        assert cell.derived_as == "transfer"
    assert "(structures of glue/rte)" in plan.render(width=200)
    assert any("transfer/glue/sst2: per seed and budget" in n for n in plan.notes)


@pytest.mark.e2e
@pytest.mark.slow  # eight tiny trials on embedded Ray: ~2-4 min on two busy cores
def test_a_transfer_cell_retrains_exactly_the_sources_structure(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from mlflow.tracking import MlflowClient

    name, experiment = "e2e-transfer", "e2e-transfer"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_one_budget.yaml", tmp_path, name=name, model=tiny_bert_dir, data=SHARED_DATA,
        storage=None, mlflow=tracking_uri, experiment=experiment, steps=10,
        methods="[s3delta, transfer/glue/sst2]",
    )  # fmt: skip
    sweep.write_text(
        sweep.read_text().replace("tasks: [glue/sst2]", "tasks: [glue/sst2, glue/rte]")
    )
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    log = tmp_path / "run.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=900) == 0, log.read_text()[-5000:]

    runs = trial_runs(tracking_uri, experiment, name)
    done = finished_by_key(runs)
    assert len(runs) == len(done) == 2 * 3 + 2  # s3delta on both tasks, transfer on rte only
    by_key = {r.data.tags["s3delta.key"]: r for r in runs}
    client = MlflowClient(tracking_uri)

    def structure(run_id: str, folder: Path) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        path = client.download_artifacts(run_id, "structure.json", str(folder))
        return json.loads(Path(path).read_text())

    for seed in (1, 2):
        source = by_key[f"{name}|glue/sst2|s3delta|1%|final|seed={seed}"]
        moved = by_key[f"{name}|glue/rte|transfer/glue/sst2|1%|final|seed={seed}"]
        tags = moved.data.tags
        assert tags["s3delta.task"] == "glue/rte"
        assert tags["s3delta.source_task"] == "glue/sst2"
        assert tags["s3delta.source_run_id"] == source.info.run_id
        assert moved.data.metrics["time_search_steps_s"] == 0
        searched = structure(source.info.run_id, tmp_path / "dl" / f"s{seed}")
        retrained = structure(moved.info.run_id, tmp_path / "dl" / f"t{seed}")
        assert retrained["entries"] == searched["entries"]
        assert retrained["meta"]["transfer"] == {
            "source_task": "glue/sst2",
            "target_task": "glue/rte",
        }
        assert moved.data.metrics["delta_params"] == source.data.metrics["delta_params"]
