"""Cost accounting of a sweep: every trial's cost, summed per cell and for the sweep, on a
real small sweep (embedded Ray, SQLite MLflow), and what `s3delta results` shows of it."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    VENV_BIN,
    expected_keys,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    trial_runs,
)

from orchestrator.results.comparison_types import Comparison, PairedComparison
from orchestrator.results.costs import cell_costs, per_point, sweep_total

EXPERIMENT = "e2e-costs"


def _pair(task: str, budget: str, diff: float, n: int = 3) -> PairedComparison:
    nan = math.nan
    return PairedComparison(
        task=task, budget=budget, method="s3delta", baseline="random", baseline_budget=budget,
        n_pairs=n, seeds=(1, 2, 3), diffs=(diff,) * n, mean_diff_points=diff, ci_low=nan,
        ci_high=nan, p_value=nan, wilcoxon_p=nan, wins=n, ties=0, losses=0, a_mean=nan,
        a_std=nan, b_mean=nan, b_std=nan, method_mean=nan, method_std=nan, method_seeds=n,
        n_test=None, score_se_points=None, pct_of_finetune=None, a_params=None, b_params=None,
    )  # fmt: skip


def test_cost_per_point_is_the_searchs_extra_cpu_over_the_gain() -> None:
    import pandas as pd

    rows = []
    for task, searched, random in (("a", 30.0, 10.0), ("b", 50.0, 20.0)):
        rows += [
            {"task": task, "method": "s3delta", "budget": "1%", "cost_cpu_s": searched / 2},
            {"task": task, "method": "s3delta", "budget": "1%", "cost_cpu_s": searched / 2},
            {"task": task, "method": "random", "budget": "1%", "cost_cpu_s": random},
        ]
    rows.append({"task": "a", "method": "random", "budget": "1%", "cost_cpu_s": None})  # no cost
    cells = cell_costs(pd.DataFrame(rows))
    assert list(cells["cpu_s"]) == [10.0, 30.0, 20.0, 50.0] and list(cells["n_trials"]) == [1, 2, 1, 2]
    assert sweep_total(cells)["cpu_s"] == 110.0
    pooled = _pair("pooled", "1%", 2.0, 6)
    pooled = PairedComparison(**{**pooled.__dict__, "pooled": True, "tasks": ("a", "b")})
    comparison = Comparison(
        method="s3delta", baseline="random", rows=(_pair("a", "1%", 4.0), _pair("b", "1%", -1.0), pooled)
    )
    found = {p.task: p for p in per_point(cells, comparison, "s3delta", "random")}
    assert found["a"].extra_cpu_s == 20.0 and found["a"].cpu_s_per_point == 5.0
    assert math.isnan(found["b"].cpu_s_per_point)  # nothing gained: no cost per point
    assert found["pooled"].extra_cpu_s == 50.0 and found["pooled"].cpu_s_per_point == 25.0


@pytest.mark.e2e
@pytest.mark.slow  # a 6-trial sweep on a tiny BERT: ~1-3 min on two busy cores
def test_costs_add_up_from_trials_to_cells_to_the_sweep(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    name = "e2e-costs"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_one_budget.yaml", tmp_path, name=name, model=tiny_bert_dir, data=SHARED_DATA,
        storage=None, mlflow=tracking_uri, experiment=EXPERIMENT, steps=10,
        methods="[s3delta, random]",
    )  # fmt: skip
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    log = tmp_path / "run.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=900) == 0, log.read_text()[-5000:]

    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    keys = expected_keys(name, ["s3delta", "random"], ["1%"], seeds=[1, 2])
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    client = MlflowClient(tracking_uri)
    by_cell: dict[str, list[float]] = {}
    for run in runs:
        m = run.data.metrics
        assert m["cost_cpu_s"] > 0 and m["cost_wall_s"] > 0 and m["cost_peak_rss_mb"] > 0
        assert m["cost_gpu_s"] == 0.0 and run.data.tags["s3delta.device"] == "cpu"
        shares = m["cost_share_search"] + m["cost_share_retrain"] + m["cost_share_evaluation"]
        assert 0 < shares <= 1.0
        searched = run.data.tags["s3delta.method"] == "s3delta"
        assert (m["cost_cpu_search_steps_s"] > 0) == searched
        by_cell.setdefault(run.data.tags["mlflow.parentRunId"], []).append(m["cost_cpu_s"])
    assert len(by_cell) == 2
    cell_totals = []
    for cell_id, trial_costs in by_cell.items():
        cell = client.get_run(cell_id).data.metrics
        assert cell["cost_n_trials"] == len(trial_costs) == 3
        assert cell["cost_cpu_s"] == pytest.approx(sum(trial_costs), rel=1e-6)
        cell_totals.append(cell["cost_cpu_s"])
    parent = client.get_run(client.get_run(next(iter(by_cell))).data.tags["mlflow.parentRunId"])
    total = parent.data.metrics["cost/total/cpu_s"]
    assert total == pytest.approx(sum(cell_totals), rel=1e-6)
    assert parent.data.metrics["cost/total/n_trials"] == 6
    searched_cell = next(
        c for c in by_cell if client.get_run(c).data.tags["s3delta.method"] == "s3delta"
    )
    assert parent.data.metrics["cell/glue_sst2/s3delta/1pct/cost_cpu_s"] == pytest.approx(
        sum(by_cell[searched_cell]), rel=1e-6
    )

    shown = subprocess.run(
        [str(VENV_BIN / "s3delta"), "results", name, "--json", "--tracking-uri", tracking_uri,
         "--experiment", EXPERIMENT],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    costs = json.loads(shown.stdout)["costs"]
    assert costs["total"]["cpu_s"] == pytest.approx(total, rel=1e-6)
    assert sum(c["cpu_s"] for c in costs["cells"]) == pytest.approx(total, rel=1e-6)
    (point,) = costs["per_point_over_random"]
    cpu = {c["method"]: c["cpu_s"] for c in costs["cells"]}
    assert point["extra_cpu_s"] == pytest.approx(cpu["s3delta"] - cpu["random"], rel=1e-6)
    text = subprocess.run(
        [str(VENV_BIN / "s3delta"), "results", name, "--tracking-uri", tracking_uri,
         "--experiment", EXPERIMENT],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    assert "Cost per cell" in text and "What the search bought" in text


def test_the_report_shows_each_cell_the_total_and_what_the_search_bought() -> None:
    import pandas as pd

    from dashboards.report import _costs_html
    from orchestrator.results.costs import sweep_costs

    rows = [
        {"task": "a", "method": "s3delta", "budget": "1%", "cost_cpu_s": 30.0, "cost_wall_s": 40.0},
        {"task": "a", "method": "random", "budget": "1%", "cost_cpu_s": 10.0, "cost_wall_s": 12.0},
    ]
    comparison = Comparison(method="s3delta", baseline="random", rows=(_pair("a", "1%", 4.0),))
    costs = sweep_costs(pd.DataFrame(rows), comparison, "s3delta", "random")
    page = _costs_html(costs)
    cells = page[page.index('id="cost-cells"') : page.index("</table>")]
    body = [r for r in cells.split("<tr>") if "<td>" in r]
    cpu = [float(r.split("<td>")[5].split("<")[0].replace(",", "")) for r in body]
    assert [r.split("<td>")[1].split("<")[0] for r in body] == ["a", "a", "total"]
    assert cpu == [10.0, 30.0, 40.0]  # the total row is the sum of the cells
    point = page[page.index('id="cost-per-point"') :]
    assert "<td>5.0</td>" in point  # (30 - 10) CPU-s / 4 points, one decimal
