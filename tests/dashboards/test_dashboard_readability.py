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
    assert len(tuning) == 1 and tuning[0].marker.opacity <= 0.3 and list(tuning[0].y) == [0.95]
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert list(front.y) == [0.82]  # the front is made of final runs only
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
