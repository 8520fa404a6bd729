"""CLI commands `s3delta report` (HTML + PNG report of a sweep) and `s3delta ui` (MLflow UI)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import typer

from orchestrator.cli.results import EXPERIMENT_HELP, TRACKING_HELP, fail, open_client


def report(
    sweep: str = typer.Argument(..., help="sweep name (s3delta.sweep tag)"),
    out: Path | None = typer.Option(
        None, "--out", help="output folder (default: ./reports/<sweep>)"
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help=EXPERIMENT_HELP),
    log: bool = typer.Option(
        True,
        "--log/--no-log",
        help="also log the report to the sweep's parent run (--no-log: only write the files)",
    ),
    png: bool = typer.Option(
        True,
        "--png/--no-png",
        help="also write PNGs (needs Chromium: bash scripts/install-browser.sh; --no-png: HTML only)",
    ),
) -> None:
    """Write a self-contained HTML report (and PNGs) of a sweep, and log it to MLflow."""
    from dashboards.report import write_report
    from orchestrator.results.client import ResultsError

    client = open_client(tracking_uri, experiment)
    target = out or Path("reports") / sweep.replace("/", "_")
    from dashboards.subspace_report import write_subspace_report

    page = write_subspace_report(client, sweep, target)  # None unless a subspace sweep
    if page is not None:
        typer.echo(f"wrote {page} (subspace sweep: tables, transfer heatmaps, landscapes)")
        return
    try:
        files = write_report(client, sweep, target, log_to_mlflow=log, pngs=png)
    except ResultsError as err:
        fail(str(err))
    from dashboards.png_export import NO_PNG_PREFIX

    png_notes = [n for n in files.notes if n.startswith(NO_PNG_PREFIX)]
    if files.pngs:
        typer.echo(f"wrote {files.html} and {len(files.pngs)} PNGs in {target / 'png'}")
    elif png_notes:
        typer.echo(f"wrote {files.html}; {png_notes[0]}")  # one line: why, and how to get them
    else:
        typer.echo(f"wrote {files.html}")
    if files.logged_to_run:
        typer.echo(f"logged to run {files.logged_to_run} under report/")
    for note in files.notes:
        if note not in png_notes:
            typer.echo(f"note: {note}")


def ui_command(port: int, tracking_uri: str | None = None) -> list[str]:
    """argv for an MLflow UI on 127.0.0.1:port, one worker, on the s3delta tracking store.

    With the embedded default store, artifacts uploaded through the UI server go to
    ``<runs dir>/mlartifacts`` rather than the current directory.
    """
    from orchestrator.results.client import default_runs_dir, default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if uri.startswith("sqlite:///") and tracking_uri is None:
        runs = default_runs_dir()
        runs.mkdir(parents=True, exist_ok=True)
        argv += ["--artifacts-destination", str(runs / "mlartifacts")]
    return argv


def ui_url(port: int, tracking_uri: str, experiment: str) -> str:
    """The address to open: the experiment's runs view when the experiment exists."""
    from mlflow.tracking import MlflowClient

    from orchestrator.mlflow_links import SHARED_VIEW_TAG, experiment_url

    base = f"http://127.0.0.1:{port}"
    try:
        found = MlflowClient(tracking_uri).get_experiment_by_name(experiment)
    except Exception:  # the server will say what is wrong with the store
        found = None
    if found is None:
        return base
    shared = SHARED_VIEW_TAG in found.tags
    return experiment_url(base, str(found.experiment_id), shared_view=shared)


def run_server(argv: list[str]) -> int:
    """Run ``argv`` as a child; SIGTERM, SIGINT and SIGHUP stop the child too (no orphan)."""
    child = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum if signum != signal.SIGHUP else signal.SIGTERM)

    previous = {
        s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        while True:
            try:
                code = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code


def ui(
    port: int = typer.Option(5000, "--port", help="port on 127.0.0.1"),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help="experiment to open"),
) -> None:
    """Start the MLflow UI on the s3delta tracking store (127.0.0.1, one worker); Ctrl-C stops it."""
    from orchestrator.results.client import default_tracking_uri, missing_sqlite_store

    uri = tracking_uri or default_tracking_uri()
    missing = missing_sqlite_store(uri)
    if missing is not None:
        fail(f"no MLflow store at {missing}; run a sweep first or pass --tracking-uri")
    argv = ui_command(port, tracking_uri)
    typer.echo(f"MLflow UI at {ui_url(port, uri, experiment)} (store {argv[5]})")
    raise typer.Exit(run_server(argv))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report)
    app.command("ui")(ui)
