"""`Client.compare`, its MLflow metrics and `s3delta results` on a real sqlite MLflow store.

The store (tests/compare_store.py) holds hand-chosen scores. Expected figures are worked
out by hand below from the formulas, not by running scipy's tests on the same input:

  CI   = mean ± t_{0.975, n-1} · sd / √n      (t_{0.975,1} = 12.706205, _2 = 4.302653,
                                                t_{0.975,5} = 2.570582, from a t table)
  p    = two-sided paired t-test; with df = 2, P(|T| > t) = 1 - t / √(t² + 2); with
         df = 1, P(|T| > t) = 1 - (2/π)·atan(t)
  Wilcoxon: exact / exhaustive sign-flip distribution of the signed-rank sum.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.results.client import Client
from orchestrator.results.comparison_metrics import comparison_metrics, metric_part
from orchestrator.results.comparison_types import Comparison, PairedComparison
from orchestrator.results.paired import paired_stats
from tests.compare_store import CompareStore, write_compare_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CompareStore:
    return write_compare_store(tmp_path_factory.mktemp("compare_store"))


@pytest.fixture(scope="module")
def comparison(store: CompareStore) -> Comparison:
    return Client(store.tracking_uri, store.experiment).compare(store.sweep)


def _row(comparison: Comparison, task: str, budget: str, baseline: str) -> PairedComparison:
    found = [
        r for r in comparison.rows if (r.task, r.budget, r.baseline) == (task, budget, baseline)
    ]
    assert len(found) == 1, [(r.task, r.budget, r.baseline) for r in comparison.rows]
    return found[0]


def test_paired_stats_against_hand_values() -> None:
    # d = (1, 2, 3): mean 2, sd 1, se 1/√3 = 0.577350; half-width 4.302653 · 0.577350 =
    # 2.484138 -> [-0.484138, 4.484138]; t = 2/0.577350 = 3.464102,
    # p = 1 - 3.464102/√14 = 1 - 0.925820 = 0.074180; Wilcoxon: all 3 signs positive,
    # P(T+ = 6 or T+ = 0) = 2/8 = 0.25.
    got = paired_stats([81.0, 82.0, 83.0], [80.0, 80.0, 80.0])
    assert (got.n, got.mean, got.sd) == (3, 2.0, 1.0)
    assert got.ci_low == pytest.approx(-0.484138, abs=1e-5)
    assert got.ci_high == pytest.approx(4.484138, abs=1e-5)
    assert got.p_value == pytest.approx(0.074180, abs=1e-5)
    assert got.wilcoxon_p == pytest.approx(0.25)
    assert (got.wins, got.ties, got.losses) == (3, 0, 0)


def test_degenerate_differences() -> None:
    one = paired_stats([82.0], [79.0])
    assert one.mean == 3.0 and math.isnan(one.ci_low) and math.isnan(one.p_value)
    assert "n too small" in one.note
    zeros = paired_stats([80.0, 81.0], [80.0, 81.0])
    assert (zeros.ties, zeros.wilcoxon_p) == (2, 1.0)  # all-zero differences: p = 1
    same = paired_stats([83.0, 84.0], [80.0, 81.0])  # 3.0000000000000004 vs 3.0: no spread
    assert same.sd == 0.0 and math.isnan(same.ci_low) and "no spread" in same.note
    assert paired_stats([], []).note == "no pairs"


def test_cell_against_random(comparison: Comparison) -> None:
    row = _row(comparison, "glue/sst2", "0.01%", "random")
    assert row.seeds == (1, 2, 3) and row.n_pairs == 3 and row.missing == ()
    assert row.diffs == pytest.approx((1.0, 2.0, 3.0))
    assert row.mean_diff_points == pytest.approx(2.0)
    assert (row.ci_low, row.ci_high) == pytest.approx((-0.484138, 4.484138), abs=1e-5)
    assert row.p_value == pytest.approx(0.074180, abs=1e-5)
    assert row.wilcoxon_p == pytest.approx(0.25)
    assert (row.wins, row.ties, row.losses) == (3, 0, 0)
    assert (row.a_mean, row.a_std, row.b_mean, row.b_std) == pytest.approx((82, 1, 80, 0))
    assert row.test == "paired t-test (scipy.stats.ttest_rel)"
    # n test 200, accuracy 0.82: SE = 100·√(0.82·0.18/200) = 100·√0.000738 = 2.71662
    assert row.n_test == 200
    assert row.score_se_points == pytest.approx(2.71662, abs=1e-4)
    # (81+82+83) / (85+86+87) = 246/258
    assert row.pct_of_finetune == pytest.approx(95.3488, abs=1e-3)
    assert not row.decided


def test_missing_pair_and_tie(comparison: Comparison) -> None:
    # random seed 3 failed at 0.05%: pairs (84-84, 85-84) = (0, 1); mean 0.5, sd 0.707107,
    # half-width 12.706205 · 0.707107/√2 = 6.353102; t = 0.5/0.5 = 1 with df 1:
    # p = 1 - (2/π)·atan(1) = 0.5; Wilcoxon drops the zero, one pair left: p = 1.
    row = _row(comparison, "glue/sst2", "0.05%", "random")
    assert row.seeds == (1, 2) and row.missing_seeds == (3,)
    assert row.missing[0].lacking == "random"
    assert (row.wins, row.ties, row.losses) == (1, 1, 0)
    assert (row.ci_low, row.ci_high) == pytest.approx((-5.853102, 6.853102), abs=1e-5)
    assert row.p_value == pytest.approx(0.5, abs=1e-6)
    assert row.wilcoxon_p == pytest.approx(1.0)


def test_budget_free_baselines_pair_by_seed(comparison: Comparison) -> None:
    bitfit = _row(comparison, "glue/sst2", "0.01%", "manual/bitfit")  # only seed 2 ran
    assert bitfit.n_pairs == 1 and bitfit.seeds == (2,) and bitfit.missing_seeds == (1, 3)
    assert bitfit.mean_diff_points == pytest.approx(3.0)
    assert math.isnan(bitfit.ci_low) and math.isnan(bitfit.p_value) and "n too small" in bitfit.note
    assert bitfit.baseline_budget == "none" and bitfit.b_params == 25728
    lnfit = _row(comparison, "glue/sst2", "0.01%", "manual/lnfit")  # d = (1, 1, -2)
    assert lnfit.mean_diff_points == pytest.approx(0.0, abs=1e-9)
    assert (lnfit.wins, lnfit.ties, lnfit.losses) == (2, 0, 1)
    assert lnfit.b_params == 4992 and lnfit.a_params == 1900
    absent = _row(comparison, "glue/cola", "0.01%", "manual/lnfit")  # never ran on CoLA
    assert absent.n_pairs == 0 and absent.missing_seeds == (1, 2, 3)
    # random never ran at 5000: no row; manual baselines and finetune still compared there
    assert [r.baseline for r in comparison.cells() if r.budget == "5000"] == [
        "manual/bitfit",
        "manual/lnfit",
        "finetune",
    ]
    assert [r.baseline for r in comparison.cells() if r.budget == "0.01%"][:4] == [
        "random",
        "manual/bitfit",
        "manual/lnfit",
        "finetune",
    ]


def test_cola_cell_mcc(comparison: Comparison) -> None:
    # d = (5, -5, 5): mean 5/3, sd √(100/3) = 5.773503, se 3.333333, half-width
    # 4.302653 · 3.333333 = 14.342177; t = 0.5: p = 1 - 0.5/√2.25 = 2/3.
    # Wilcoxon: three tied |d| (rank 2 each), T+ = 4; every one of the 8 sign patterns is
    # at least as far from the mean 3, so p = 1.
    row = _row(comparison, "glue/cola", "0.01%", "random")
    assert row.mean_diff_points == pytest.approx(5 / 3)
    assert (row.ci_low, row.ci_high) == pytest.approx((-12.675510, 16.008844), abs=1e-5)
    assert row.p_value == pytest.approx(2 / 3, abs=1e-6)
    assert row.wilcoxon_p == pytest.approx(1.0)
    assert (row.wins, row.ties, row.losses) == (2, 0, 1)
    assert row.n_test == 500 and row.score_se_points is None  # MCC: no binomial SE
    assert row.pct_of_finetune == pytest.approx(50.0)  # (30+20+10) / (40·3)


def _exhaustive_wilcoxon(diffs: list[float]) -> float:
    """Two-sided p from all 2^n sign flips of the (average) ranks of |d|."""
    sizes = sorted(abs(d) for d in diffs)
    rank = {s: sum(i + 1 for i, t in enumerate(sizes) if t == s) / sizes.count(s) for s in sizes}
    ranks = [rank[abs(d)] for d in diffs]
    centre = sum(ranks) / 2
    observed = abs(sum(r for r, d in zip(ranks, diffs, strict=True) if d > 0) - centre)
    flips = list(itertools.product((0, 1), repeat=len(diffs)))
    extreme = sum(
        abs(sum(r for r, s in zip(ranks, f, strict=True) if s) - centre) >= observed - 1e-12
        for f in flips
    )
    return extreme / len(flips)


def test_pooled_rows(comparison: Comparison) -> None:
    # units (task, seed): SST-2 (1, 2, 3), CoLA (5, -5, 5)
    units = [1.0, 2.0, 3.0, 5.0, -5.0, 5.0]
    mean = sum(units) / 6  # 11/6
    sd = math.sqrt(sum((u - mean) ** 2 for u in units) / 5)
    half = 2.570582 * sd / math.sqrt(6)
    row = _row(comparison, "pooled", "0.01%", "random")
    assert row.pooled and row.tasks == ("glue/cola", "glue/sst2") and row.n_pairs == 6
    assert row.mean_diff_points == pytest.approx(11 / 6)
    assert (row.ci_low, row.ci_high) == pytest.approx((mean - half, mean + half), abs=1e-5)
    assert row.wilcoxon_p == pytest.approx(_exhaustive_wilcoxon(units))  # = 20/64
    assert row.wilcoxon_p == pytest.approx(0.3125)
    assert (row.wins, row.ties, row.losses) == (5, 0, 1)
    finetune = _row(comparison, "pooled", "0.01%", "finetune")
    # (81+82+83+30+20+10) / (85+86+87+40+40+40) = 306/378
    assert finetune.pct_of_finetune == pytest.approx(80.9524, abs=1e-3)
    # one task only: no pooled rows for manual baselines, none at 0.05%, 2000 or 5000
    assert {(r.budget, r.baseline) for r in comparison.pooled()} == {
        ("0.01%", "random"),
        ("0.01%", "finetune"),
        ("≤0.01%", "random"),
        ("≤0.01%", "finetune"),
    }


def test_low_budget_pool_converts_absolute_budgets(comparison: Comparison) -> None:
    # <= 0.01%: SST-2 0.01%, CoLA 0.01% and CoLA 2000 (2000 / 20M = 0.01%); CoLA's two
    # budgets are averaged per seed: ((5+7)/2, (-5-3)/2, (5+7)/2) = (6, -4, 6).
    row = _row(comparison, "pooled", "≤0.01%", "random")
    assert row.n_pairs == 6 and row.diffs == pytest.approx((6.0, -4.0, 6.0, 1.0, 2.0, 3.0))
    assert row.mean_diff_points == pytest.approx(14 / 6)
    assert any("glue/sst2 budget 5000: no backbone_params recorded" in n for n in comparison.notes)
    assert any("different metrics" in n for n in comparison.notes)


def test_parent_run_metrics(store: CompareStore, comparison: Comparison) -> None:
    client = Client(store.tracking_uri, store.experiment)
    logged = client.log_comparison(store.sweep, comparison)
    metrics = client.mlflow.get_run(store.parent_run_id).data.metrics
    cell = "compare/glue_sst2/0.01pct/random"
    assert metrics[f"{cell}/mean_diff"] == pytest.approx(2.0)
    assert metrics[f"{cell}/ci_low"] == pytest.approx(-0.484138, abs=1e-5)
    assert metrics[f"{cell}/ci_high"] == pytest.approx(4.484138, abs=1e-5)
    assert metrics[f"{cell}/p_value"] == pytest.approx(0.074180, abs=1e-5)
    assert metrics[f"{cell}/wilcoxon_p"] == pytest.approx(0.25)
    assert (metrics[f"{cell}/wins"], metrics[f"{cell}/n_pairs"]) == (3, 3)
    assert metrics[f"{cell}/pct_of_finetune"] == pytest.approx(95.3488, abs=1e-3)
    bitfit = "compare/glue_sst2/0.01pct/manual_bitfit"  # n = 1: no interval is logged
    assert metrics[f"{bitfit}/n_pairs"] == 1 and f"{bitfit}/ci_low" not in metrics
    assert metrics["compare/glue_sst2/0.05pct/random/missing_pairs"] == 1
    assert metrics["compare/pooled/le_0.01pct/random/mean_diff"] == pytest.approx(14 / 6)
    # CoLA at 2000: (32-25, 22-25, 12-5) = (7, -3, 7), mean 11/3
    assert metrics["compare/glue_cola/2000/random/mean_diff"] == pytest.approx(11 / 3)
    assert set(logged) == set(comparison_metrics(comparison)) <= set(metrics)
    assert metric_part("manual/lora-qv-r8") == "manual_lora-qv-r8"


def test_cli_prints_the_comparison_by_default(store: CompareStore) -> None:
    runner = CliRunner()
    common = ["--tracking-uri", store.tracking_uri]
    shown = runner.invoke(app, ["results", store.sweep, *common])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert (
        "glue/sst2 at 0.01%: s3delta 82.0 ± 1.0 (3 seeds, 1,900 params); n test 200, SE 2.7" in text
    )
    assert "95% of finetune" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("random") and "+2.0" in x)
    assert "80.0 ± 0.0" in line and "+2.0 [-0.5, +4.5]" in line
    assert "0.074 (0.25)" in line and line.endswith("3/0/0")
    assert "+3.0 (n too small)" in text
    assert "glue/sst2 0.05%: no finished random run for seed(s) 3" in text
    assert "glue/cola 0.01%: no finished manual/lnfit run for seed(s) 1, 2, 3" in text
    assert "pooled over glue/cola, glue/sst2 at ≤0.01%" in text
    assert text.rstrip().endswith(
        "This run is too small to decide whether s3delta beats random "
        "(n=3 seeds, 200-500 test examples); see README Results for the measured comparison."
    )
    assert max(len(x) for x in text.splitlines() if not x.startswith("This run")) <= 100

    as_json = runner.invoke(app, ["results", store.sweep, "--json", *common])
    data = json.loads(as_json.stdout)
    assert data["baseline"] == "random" and data["verdict"].startswith("This run is too small")
    first = data["rows"][0]
    assert (first["task"], first["budget"], first["baseline"]) == ("glue/cola", "0.01%", "random")
    bitfit = next(r for r in data["rows"] if r["baseline"] == "manual/bitfit")
    assert bitfit["ci_low"] is None and bitfit["missing"]


def test_cli_raw_keeps_the_per_metric_table(store: CompareStore) -> None:
    runner = CliRunner()
    common = ["--tracking-uri", store.tracking_uri]
    raw = runner.invoke(app, ["results", store.sweep, "--raw", *common])
    assert raw.exit_code == 0, raw.output
    assert "test %" in raw.stdout and "diff [95% CI]" not in raw.stdout
    records = json.loads(
        runner.invoke(app, ["results", store.sweep, "--raw", "--json", *common]).stdout
    )
    cell = next(
        r
        for r in records
        if (r["task"], r["method"], r["budget"]) == ("glue/sst2", "random", "0.05%")
    )
    assert (cell["n_seeds"], cell["n_failed"]) == (2, 1)


def test_capped_test_sets_are_called_a_smoke_run(comparison: Comparison) -> None:
    """SST-2's 200 of 872 is capped; CoLA's 500 of a 521-example half is the protocol's."""
    capped = [n for n in comparison.notes if "capped" in n]
    assert len(capped) == 1
    assert "glue/sst2 (200)" in capped[0] and "glue/cola" not in capped[0]
    assert "not official test scores" in capped[0]
