"""One search, every budget, in a sweep (`one_search_budget`): the plan, and a real sweep on
embedded Ray whose other-budget trials retrain their seed's search re-solved at their budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    trial_runs,
)

from orchestrator.sweep import build_plan, parse_sweep

SWEEP = """
name: one
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2, glue/rte]
methods: [s3delta, random]
budgets: ["0.01%", "0.05%", "0.002%"]
one_search_budget: {at}
seeds: [1, 2]
search_space:
  delta_lr: {{distribution: log_uniform, min: 1e-4, max: 3e-2}}
  structure_lr: {{distribution: log_uniform, min: 0.01, max: 0.3}}
optuna: {{trials_per_cell: 4}}
"""


@pytest.mark.parametrize(("at", "source"), [("largest", "0.05%"), ("'1e-2%'", "0.01%")])
def test_the_plan_searches_once_per_task_and_retrains_the_other_budgets(
    tmp_path: Path, at: str, source: str
) -> None:
    sweep = parse_sweep(SWEEP.format(at=at), tmp_path)
    assert sweep.one_search_at == source
    plan = build_plan(sweep)
    for cell in plan.cells:
        if cell.method == "random" or cell.budget == source:
            assert cell.source_budget is None and cell.n_tune_trials == 4
        else:  # s3delta at another budget: no tuning, no search of its own
            assert cell.source_budget == source and cell.n_tune_trials == 0
            assert cell.tuned_params == () and cell.seeds == (1, 2)
    assert plan.tuning_trials == 2 * (1 + 3) * 4
    assert any(f"searches once per task and seed at {source}" in n for n in plan.notes)
    assert f"(search at {source})" in plan.render(width=200)
    assert plan.to_dict()["cells"][1]["source_budget"] in (None, source)


def test_without_the_option_every_budget_searches(tmp_path: Path) -> None:
    text = SWEEP.format(at="null")
    plan = build_plan(parse_sweep(text, tmp_path))
    assert all(c.source_budget is None for c in plan.cells)


@pytest.mark.e2e
@pytest.mark.slow  # five tiny trials on embedded Ray: ~1-3 min on two busy cores
def test_a_sweep_retrains_each_seeds_search_at_the_other_budget(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from search_space import find_candidates, load_backbone
    from search_space.rebudget import select_at_budget

    name, experiment = "e2e-one-search", "e2e-one-search"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_budgets.yaml", tmp_path, name=name, model=tiny_bert_dir, data=SHARED_DATA,
        storage=None, mlflow=tracking_uri, experiment=experiment,
    )  # fmt: skip
    text = sweep.read_text().replace("methods: [s3delta, random]", "methods: [s3delta]")
    sweep.write_text(text + "one_search_budget: largest\n")
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    log = tmp_path / "run.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=900) == 0, log.read_text()[-5000:]

    runs = trial_runs(tracking_uri, experiment, name)
    keys = expected_keys(name, ["s3delta"], ["3%"], seeds=[1, 2])
    keys |= {f"{name}|glue/sst2|s3delta|1%|final|seed={s}" for s in (1, 2)}  # no tuning at 1%
    assert finished_by_key(runs) == dict.fromkeys(keys, 1) and len(runs) == len(keys)
    by_key = {r.data.tags["s3delta.key"]: r for r in runs}
    client = MlflowClient(tracking_uri)
    backbone, _ = load_backbone(str(tiny_bert_dir))
    cands = find_candidates(backbone, "M")
    for seed in (1, 2):
        source = by_key[f"{name}|glue/sst2|s3delta|3%|final|seed={seed}"]
        derived = by_key[f"{name}|glue/sst2|s3delta|1%|final|seed={seed}"]
        tags = derived.data.tags
        assert tags["s3delta.source_budget"] == "3%"
        assert tags["s3delta.source_run_id"] == source.info.run_id
        assert tags["s3delta.source_key"] == source.data.tags["s3delta.key"]
        # the source searched, the derived trial did not
        assert source.data.metrics["time_search_steps_s"] > 0
        assert derived.data.metrics["time_search_steps_s"] == 0
        assert not any(k.startswith("search/") for k in derived.data.metrics)
        # it retrained exactly the source's logits re-solved at 1%, with the source's settings
        folder = tmp_path / "dl" / str(seed)
        folder.mkdir(parents=True)
        logits = json.loads(
            Path(client.download_artifacts(source.info.run_id, "logits.json", str(folder)))
            .read_text()
        )
        structure = json.loads(
            Path(client.download_artifacts(derived.info.run_id, "structure.json", str(folder)))
            .read_text()
        )
        budget = int(derived.data.metrics["budget_params"])
        assert 0 < structure["total_size"] <= budget
        expected = select_at_budget(cands, logits["logits"], budget)
        assert sorted(f"{e['path']}:{e['kind']}" for e in structure["entries"]) == sorted(
            c.name for c in expected
        )
        assert derived.data.params["delta_lr"] == source.data.params["delta_lr"]
