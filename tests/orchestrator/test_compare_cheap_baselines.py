"""`s3delta results` compares s3delta with ``uniform`` and ``random-mask`` as it does with
``random``: a paired row per task and budget, at the same budget, and either may be the
named baseline (issue 20)."""

from __future__ import annotations

from orchestrator.results.comparison import compare_scores
from orchestrator.results.comparison_types import SeedScore

POINTS = {  # (method, budget) -> scores per seed 1..3 (fractions)
    ("s3delta", "0.01%"): (0.82, 0.83, 0.84),
    ("random", "0.01%"): (0.80, 0.80, 0.80),
    ("uniform", "0.01%"): (0.81, 0.82, 0.86),
    ("random-mask", "0.01%"): (0.83, 0.84, 0.85),
    ("s3delta", "0.002%"): (0.79, 0.80, 0.81),
    ("uniform", "0.002%"): (0.78, 0.79, 0.80),
}


def _scores() -> list[SeedScore]:
    return [
        SeedScore(task="glue/sst2", method=m, budget=b, seed=i + 1, score=s, n_test=872,
                  backbone_params=22_713_216, accuracy_only=True)
        for (m, b), scores in POINTS.items()
        for i, s in enumerate(scores)
    ]  # fmt: skip


def test_every_cheap_baseline_gets_a_paired_row_at_its_budget() -> None:
    rows = {(r.budget, r.baseline): r for r in compare_scores(_scores()).rows if r.task != "pooled"}
    assert set(rows) >= {
        ("0.01%", "random"), ("0.01%", "uniform"), ("0.01%", "random-mask"), ("0.002%", "uniform"),
    }  # fmt: skip
    assert ("0.002%", "random-mask") not in rows  # never ran at that budget
    diffs = {k: round(r.mean_diff_points, 6) for k, r in rows.items()}
    assert diffs[("0.01%", "random")] == 3.0
    assert diffs[("0.01%", "random-mask")] == -1.0
    assert diffs[("0.002%", "uniform")] == 1.0
    assert rows[("0.01%", "uniform")].baseline_budget == "0.01%"


def test_a_cheap_baseline_can_be_the_named_one() -> None:
    comparison = compare_scores(_scores(), baseline="random-mask")
    first = next(r for r in comparison.rows if r.budget == "0.01%")
    assert first.baseline == "random-mask"
    assert not [n for n in comparison.notes if "has no finished runs" in n]


def test_a_sweep_without_random_says_which_baselines_the_rows_use() -> None:
    comparison = compare_scores([s for s in _scores() if s.method != "random"])
    note = next(n for n in comparison.notes if "has no finished runs" in n)
    assert note.startswith("baseline 'random'")
    assert "the rows compare s3delta with" in note and "uniform" in note and "random-mask" in note
