"""CLI commands `s3delta report` (HTML + PNG report of a sweep) and `s3delta ui` (MLflow UI)."""

from __future__ import annotations

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
        True, "--log/--no-log", help="also log the report to the sweep's parent run"
    ),
    png: bool = typer.Option(
        True, "--png/--no-png", help="also write PNGs (needs Chromium for kaleido)"
    ),
) -> None:
    """Write a self-contained HTML report (and PNGs) of a sweep, and log it to MLflow."""
    from dashboards.report import write_report
    from orchestrator.client import ResultsError

    client = open_client(tracking_uri, experiment)
    target = out or Path("reports") / sweep.replace("/", "_")
    try:
        files = write_report(client, sweep, target, log_to_mlflow=log, pngs=png)
    except ResultsError as err:
        fail(str(err))
    typer.echo(f"wrote {files.html} and {len(files.pngs)} PNGs in {target / 'png'}")
    if files.logged_to_run:
        typer.echo(f"logged to run {files.logged_to_run} under report/")
    for note in files.notes:
        typer.echo(f"note: {note}")


def ui_command(port: int, tracking_uri: str | None = None) -> list[str]:
    """argv for an MLflow UI on 127.0.0.1:port, one worker, on the s3delta tracking store.

    With the embedded default store, artifacts uploaded through the UI server go to
    ``<runs dir>/mlartifacts`` rather than the current directory.
    """
    from orchestrator.client import default_runs_dir, default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if uri.startswith("sqlite:///") and tracking_uri is None:
        runs = default_runs_dir()
        runs.mkdir(parents=True, exist_ok=True)
        argv += ["--artifacts-destination", str(runs / "mlartifacts")]
    return argv


def ui(
    port: int = typer.Option(5000, "--port", help="port on 127.0.0.1"),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Start the MLflow UI on the s3delta tracking store (127.0.0.1, one worker); Ctrl-C stops it."""
    argv = ui_command(port, tracking_uri)
    typer.echo(f"MLflow UI at http://127.0.0.1:{port} (store {argv[5]})")
    try:
        raise typer.Exit(subprocess.call(argv))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report)
    app.command("ui")(ui)
