"""The forest plot: one trace row per compared cell with pairs, plus the pooled rows."""

from __future__ import annotations

import pytest

from dashboards.forest import forest_figure, row_label
from orchestrator.results.client import Client
from orchestrator.results.comparison_types import Comparison
from tests.compare_store import write_compare_store


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    store = write_compare_store(tmp_path_factory.mktemp("forest_store"))
    return Client(store.tracking_uri, store.experiment).compare(store.sweep)


def test_one_row_per_cell_plus_pooled_rows(comparison: Comparison) -> None:
    fig = forest_figure(comparison)
    labels = [trace.y[0] for trace in fig.data]
    # 19 per-task rows, 4 of them without pairs (no manual baseline ran on CoLA, 2 budgets)
    # -> 15 cells, then pooled 0.01% and <= 0.01% against random and finetune.
    assert len(comparison.cells()) == 19
    assert len(fig.data) == 15 + 4 and len(set(labels)) == len(labels)
    assert labels[-4:] == [
        "pooled (2 tasks) 0.01% vs random",
        "pooled (2 tasks) 0.01% vs finetune",
        "pooled (2 tasks) ≤0.01% vs random",
        "pooled (2 tasks) ≤0.01% vs finetune",
    ]
    assert list(fig.layout.yaxis.categoryarray) == labels
    assert "glue/cola 0.01% vs manual/lnfit" not in labels


def test_points_and_bars_are_the_comparison(comparison: Comparison) -> None:
    fig = forest_figure(comparison)
    by_label = {trace.y[0]: trace for trace in fig.data}
    sst2 = by_label["glue/sst2 0.01% vs random"]
    assert sst2.x[0] == pytest.approx(2.0)
    # 95% interval [-0.484138, 4.484138] around 2.0
    assert sst2.error_x.array[0] == pytest.approx(2.484138, abs=1e-5)
    assert sst2.error_x.arrayminus[0] == pytest.approx(2.484138, abs=1e-5)
    assert sst2.marker.symbol == "circle"
    one_pair = by_label["glue/sst2 0.01% vs manual/bitfit"]  # n = 1: open marker, no bar
    assert one_pair.marker.symbol == "circle-open" and one_pair.error_x.visible is False
    pooled = by_label["pooled (2 tasks) ≤0.01% vs random"]
    assert pooled.marker.symbol == "diamond" and pooled.x[0] == pytest.approx(14 / 6)
    assert [t.name for t in fig.data if t.showlegend] == [
        "random",
        "finetune",
        "manual/bitfit",
        "manual/lnfit",
    ]
    row = next(r for r in comparison.rows if r.baseline == "random")
    assert row_label(row) == "glue/cola 0.01% vs random"


def test_empty_comparison_draws_a_note() -> None:
    fig = forest_figure(Comparison(method="s3delta", baseline="random", rows=()))
    assert len(fig.data) == 0 and fig.layout.annotations[0].text.startswith("no paired runs")
