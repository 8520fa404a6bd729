"""Figures and the report read by people: the p heatmap's colours span the data, the
Pareto plot is about final runs, the results table is in % and scrolls inside the page,
and a report without Chromium says in one line how to get PNGs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboards.heatmap import probability_heatmap_figure
from dashboards.pareto import pareto_figure
from dashboards.report import write_report
from dashboards.sample_sweep import SampleSweep
from orchestrator.cli import app
from orchestrator.results.client import Client


def test_heatmap_colours_span_the_probabilities_and_the_axis_says_so() -> None:
    probabilities = {
        f"encoder.layer.{i}.attention.self.query:lora": p
        for i, p in enumerate((0.012, 0.02, 0.03, 0.045, 0.06))
    }
    fig = probability_heatmap_figure(probabilities, {"entries": []})
    p_map = fig.data[0]
    assert (p_map.zmin, p_map.zmax) == (pytest.approx(0.012), pytest.approx(0.06))
    assert "scaled to this run: 0.012 to 0.06" in p_map.colorbar.title.text


def test_pareto_plots_final_runs_with_tuning_trials_as_a_faint_layer() -> None:
    trials = pd.DataFrame(
        {
            "task": ["glue/sst2"] * 4,
            "method": ["s3delta", "s3delta", "random", "s3delta"],
            "budget": ["1%"] * 4,
            "seed": [1, 2, 1, 1],
            "phase": ["final", "final", "final", "tune"],
            "status": ["FINISHED"] * 4,
            "delta_params": [100.0, 100.0, 100.0, 50.0],
            "test_score": [0.80, 0.82, 0.78, 0.95],  # the tuning trial scores best
        }
    )
    fig = pareto_figure(trials)
    tuning = [t for t in fig.data if t.name == "tuning trials"]
    assert len(tuning) == 1 and tuning[0].marker.opacity <= 0.3 and list(tuning[0].y) == [95.0]
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert list(front.y) == [82.0]  # the front is made of final runs only (in %)
    assert "final runs" in fig.layout.title.text


def test_report_results_table_is_in_percent_and_scrolls_inside_the_page(
    client: Client, tmp_path: Path
) -> None:
    page = write_report(client, "demo", tmp_path, log_to_mlflow=False, pngs=False).html
    text = page.read_text()
    start = text.index('<div class=\'table-wrap\'><table border="1" class="dataframe" id="results"')
    table = text[start : text.index("</table>", start)]
    assert "test %" in table and "83.0 ± 3.6" in table and "1,920" in table
    assert "test_score_std" not in table
    assert ".table-wrap{max-width:100%;overflow-x:auto}" in text


def test_report_without_chromium_says_in_one_line_how_to_get_pngs(
    sample: SampleSweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dashboards.png_export as png_export

    monkeypatch.setattr(png_export, "find_browser", lambda: None)
    args = ["report", "demo", "--out", str(tmp_path), "--no-log"]
    made = CliRunner().invoke(app, [*args, "--tracking-uri", sample.tracking_uri])
    assert made.exit_code == 0, made.output
    png_lines = [line for line in made.output.splitlines() if "PNG" in line]
    assert len(png_lines) == 1, made.output
    assert png_lines[0].startswith(f"wrote {tmp_path / 'report.html'}; no PNGs: Chromium not found")
    assert "install-browser.sh" in png_lines[0]
    assert "0 PNGs" not in made.output and "Traceback" not in made.output


def test_trajectory_axes_have_a_floor_so_float_noise_stays_flat() -> None:
    from dashboards.trajectory import trajectory_figure

    noise = [2270.9998, 2271.0002, 2270.9999, 2271.0001]
    histories = {
        "search/expected_size": pd.DataFrame({"step": range(4), "value": noise}),
        "search/budget": pd.DataFrame({"step": range(4), "value": [2271.0] * 4}),
        "retrain/dev_score": pd.DataFrame({"step": range(4), "value": [0.8, 0.8, 0.8, 0.8]}),
    }
    fig = trajectory_figure(histories)
    low, high = fig.layout.yaxis.range
    assert high - low >= 10 and low < 2270.9998 and high > 2271.0002
    low, high = fig.layout.yaxis2.range  # dev score in %, at least 2 points tall
    assert high - low >= 2 and low < 80 < high
    assert list(fig.data[2].y) == [80.0] * 4 and "(%)" in fig.layout.yaxis2.title.text


def test_forest_legend_sits_above_the_plot_so_a_short_forest_does_not_cut_it() -> None:
    from dashboards.forest import forest_figure
    from orchestrator.results.comparison_types import Comparison

    fig = forest_figure(Comparison(method="s3delta", baseline="random", rows=()))
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y > 1


def test_cost_tables_write_counts_as_integers_and_missing_values_in_words() -> None:
    from dashboards.report import _costs_html
    from orchestrator.results.costs import PerPoint, SweepCosts, sweep_total

    cells = pd.DataFrame(
        {
            "task": ["glue/sst2", "glue/sst2"],
            "method": ["random", "s3delta"],
            "budget": ["0.01%", "0.01%"],
            "n_trials": [3.0, 4.0],
            "cpu_s": [14.8, 36.1],
            "gpu_s": [0.0, 0.0],
            "wall_s": [34.7, 75.0],
            "search_cpu_s": [0.0, 19.0],
            "peak_rss_mb": [1067.0, 1428.5],
            "peak_gpu_mb": [float("nan")] * 2,
        }
    )
    lost = PerPoint("glue/sst2", "0.01%", 36.05, 14.82, -2.34, 2)  # no gain: no cost per point
    page = _costs_html(SweepCosts(cells, sweep_total(cells), [lost]))
    assert "None" not in page and "nan" not in page.lower()
    start = page.index('id="cost-cells"')
    rows = _rows(page[start : page.index("</table>", start)])
    assert [row[rows[0].index("trials")] for row in rows[1:]] == ["3", "4", "7"]
    assert [row[rows[0].index("peak GPU MB")] for row in rows[1:]] == ["-"] * 3
    start = page.index('id="cost-per-point"')
    rows = _rows(page[start : page.index("</table>", start)])
    assert rows[1][rows[0].index("CPU s per point")] == "no gain"
    assert rows[1][rows[0].index("gain (points)")] == "-2.34"


def _rows(table: str) -> list[list[str]]:
    """An HTML table's header and body cells as text."""
    import re

    return [
        [re.sub("<.*?>", "", cell).strip() for cell in re.findall(r"<t[hd].*?</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr.*?</tr>", table, re.S)
    ]


def test_report_writes_next_to_the_sweeps_runs_by_default(
    sample: SampleSweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the quick start writes it (<home>/<sweep>/report), not ./reports."""
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.setenv("S3DELTA_HOME", str(home))
    monkeypatch.chdir(elsewhere)
    args = ["report", "demo", "--no-log", "--no-png", "--tracking-uri", sample.tracking_uri]
    made = CliRunner().invoke(app, args)
    assert made.exit_code == 0, made.output
    assert (home / "demo" / "report" / "report.html").is_file()
    assert list(elsewhere.iterdir()) == []
