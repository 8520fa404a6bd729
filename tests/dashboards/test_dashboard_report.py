"""`s3delta report` / `results` / `best`: files written, logged to the sweep's run, gaps shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from dashboards.png_export import NO_PNG_PREFIX, find_browser
from dashboards.report import ReportFiles, write_report
from dashboards.sample_sweep import SampleSweep
from orchestrator.cli import app
from orchestrator.results.client import Client

FIGURE_STEMS = {"forest", "score_vs_budget", "pareto", "budget_split"} | {
    f"{kind}_{task}_{budget}"
    for kind in ("heatmap", "trajectory")
    for task in ("glue_sst2", "glue_rte")
    for budget in ("0.01pct", "0.05pct")
}


@pytest.fixture(scope="module")
def report(client: Client, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(client, "demo", tmp_path_factory.mktemp("report"))


def test_html_is_self_contained_with_every_figure(report: ReportFiles) -> None:
    page = report.html.read_text()
    # plotly.js inlined (its own source mentions a CDN only for geo topojson), nothing fetched
    assert "<script src=" not in page and 'src="http' not in page
    assert len(page) > 3_000_000
    assert page.count("Plotly.newPlot") == len(FIGURE_STEMS)
    for stem in FIGURE_STEMS:
        assert f'id="fig-{stem}"' in page
    assert "glue/rte" in page and "57.0" in page  # results table: the partial cell's mean, %
    assert "id='comparison'" in page and "id='verdict'" in page
    assert "+3.0 [no spread]" in page  # sample: s3delta - random is +3 points on every seed


def test_gaps_are_listed(report: ReportFiles) -> None:
    page = report.html.read_text()
    assert "failed: glue/rte random budget 0.05%, seeds [2]" in page
    assert "missing: glue/rte manual/lnfit budget none, seeds [0, 1, 2]" in page
    assert "expected grid from plan.json" in page
    assert "failed: glue/rte random budget 0.05%, seeds [2]" in report.notes


def test_pngs_written(report: ReportFiles) -> None:
    if find_browser() is None:
        assert report.pngs == [] and any(n.startswith(NO_PNG_PREFIX) for n in report.notes)
        pytest.skip("no Chromium: PNG export skipped (run scripts/install-browser.sh)")
    assert {p.stem for p in report.pngs} == FIGURE_STEMS
    with Image.open(next(p for p in report.pngs if p.stem == "score_vs_budget")) as image:
        assert image.size == (1200, 460)


def test_report_logged_to_parent_run(
    report: ReportFiles, client: Client, sample: SampleSweep
) -> None:
    assert report.logged_to_run == sample.parent_run_id
    logged = {f.path for f in client.mlflow.list_artifacts(sample.parent_run_id, "report")}
    assert "report/report.html" in logged
    metrics = client.mlflow.get_run(sample.parent_run_id).data.metrics
    assert metrics["compare/glue_sst2/0.01pct/random/mean_diff"] == pytest.approx(3.0)
    assert metrics["compare/pooled/0.05pct/random/n_pairs"] == 5  # rte random seed 2 failed
    if report.pngs:
        pngs = {f.path for f in client.mlflow.list_artifacts(sample.parent_run_id, "report/png")}
        assert pngs == {f"report/png/{s}.png" for s in FIGURE_STEMS}


def test_cli_results_best_and_report(sample: SampleSweep, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--tracking-uri", sample.tracking_uri]
    table = runner.invoke(app, ["results", "demo", "--raw", "--json", *common])
    assert table.exit_code == 0, table.output
    rows = {(r["task"], r["method"], r["budget"]): r for r in json.loads(table.stdout)}
    assert rows[("glue/sst2", "s3delta", "0.01%")]["test_score_mean"] == pytest.approx(0.83)
    assert rows[("glue/rte", "finetune", "none")]["budget_params_mean"] is None

    out = tmp_path / "best.json"
    best = runner.invoke(
        app,
        ["best", "demo", "--task", "glue/sst2", "--budget", "0.01%", "--out", str(out), *common],
    )
    assert best.exit_code == 0, best.output
    assert json.loads(out.read_text())["format"] == "s3delta.structure"

    paired = runner.invoke(app, ["results", "demo", *common])
    assert paired.exit_code == 0, paired.output
    assert "glue/sst2 at 0.01%: s3delta 83.0 ± 3.6 (3 seeds, 1,920 params)" in paired.stdout
    assert "This run is too small to decide whether s3delta beats random" in paired.stdout

    unknown = runner.invoke(app, ["results", "nope", *common])
    assert unknown.exit_code == 1 and "known sweeps: ['demo']" in unknown.stderr

    report_dir = tmp_path / "rep"
    made = runner.invoke(
        app, ["report", "demo", "--out", str(report_dir), "--no-png", "--no-log", *common]
    )
    assert made.exit_code == 0, made.output
    assert (report_dir / "report.html").exists()
    assert "note: missing: glue/rte manual/lnfit" in made.stdout


def test_ui_command_binds_localhost_one_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orchestrator.cli.report import ui_command

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path / "home"))
    argv = ui_command(5123)
    joined = " ".join(argv)
    assert f"--backend-store-uri sqlite:///{tmp_path}/home/mlflow.db" in joined
    assert "--host 127.0.0.1 --port 5123 --workers 1" in joined
    assert (tmp_path / "home").is_dir()
    assert shutil.which(argv[0]) or Path(argv[0]).exists()


def test_results_json_carries_the_run_ids_export_takes(sample: SampleSweep) -> None:
    common = ["--tracking-uri", sample.tracking_uri]
    made = CliRunner().invoke(app, ["results", "demo", "--json", *common])
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    best = {(r["task"], r["budget"]): r["run_id"] for r in data["best_s3delta_runs"]}
    assert (
        best[("glue/sst2", "0.01%")]
        == sample.run_ids[("glue/sst2", "s3delta", "0.01%", 1, "final")]
    )
    finals = {(r["task"], r["method"], r["budget"], r["seed"]): r for r in data["final_runs"]}
    row = finals[("glue/sst2", "random", "0.01%", 2)]
    assert row["run_id"] == sample.run_ids[("glue/sst2", "random", "0.01%", 2, "final")]
    assert row["status"] == "FINISHED"


def test_export_of_a_sweep_run_says_to_give_a_trial(sample: SampleSweep, tmp_path: Path) -> None:
    args = ["export", sample.parent_run_id, str(tmp_path / "out")]
    made = CliRunner().invoke(app, [*args, "--tracking-uri", sample.tracking_uri])
    assert made.exit_code == 1
    assert f"run {sample.parent_run_id} is a sweep run, not a trial" in made.output
    assert "--run-id" in made.output and not (tmp_path / "out").exists()
