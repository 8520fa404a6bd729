"""How a seeds-until-decided verdict reads (issue 22): a line under its row in the text
view and a column of the report's table, apart from the t-interval; absent otherwise."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.results.comparison import compare_scores
from orchestrator.results.comparison_types import SeedScore
from orchestrator.results.text import comparison_rows, format_comparison


def _comparison():
    scores = [
        SeedScore(task="glue/sst2", method=m, budget="0.01%", seed=s, score=v + s / 100, n_test=872)
        for m, v in (("s3delta", 0.80), ("random", 0.79))
        for s in (1, 2, 3, 4)
    ]
    return compare_scores(scores)


def test_the_verdict_shows_under_its_row_and_as_a_report_column() -> None:
    plain = _comparison()
    assert "seeds until decided" not in format_comparison(plain, "s")
    assert "seeds until decided" not in comparison_rows(plain)[0]
    row = replace(plain.rows[0], verdict="better", seeds_used=4, seq_ci_low=0.2, seq_ci_high=1.8)
    decided = replace(plain, rows=(row, *plain.rows[1:]))
    text = format_comparison(decided, "s")
    assert "seeds until decided: better after 4 seeds, repeated 95% interval [+0.20, +1.80]" in text
    assert comparison_rows(decided)[0]["seeds until decided"].startswith("better after 4 seeds")
