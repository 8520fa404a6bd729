"""CLI commands `s3delta report` (HTML + PNG report of a sweep) and `s3delta ui` (MLflow UI)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.results import EXPERIMENT_HELP, TRACKING_HELP, fail, open_client


def report(
    sweep: str = typer.Argument(..., help="sweep name (s3delta.sweep tag)"),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="output folder (default: <the sweep's run dir>/report, e.g. runs/<sweep>/report, "
        "where the quick start writes it)",
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
    from orchestrator.kinds import ReportOptions, kind_of_recorded
    from orchestrator.results.client import ResultsError

    client = open_client(tracking_uri, experiment)
    target = out or default_report_dir(client, sweep)
    options = ReportOptions(target, log=log, png=png)
    try:
        lines = kind_of_recorded(client, sweep).report(client, sweep, options)
    except ResultsError as err:
        fail(str(err))
    for line in lines:
        typer.echo(line)


def default_report_dir(client: Any, sweep: str) -> Path:
    """``<run dir>/report``: the run dir its trials wrote to (their output_dir is
    ``<run dir>/trials/<trial>``) when this machine has it, else ``<home>/<sweep>``."""
    from orchestrator import paths
    from orchestrator.results.query import KIND_TAG, SWEEP_TAG, tags_filter

    found = client.mlflow.search_runs(
        [client.experiment_id],
        filter_string=tags_filter({KIND_TAG: "trial", SWEEP_TAG: sweep}),
        max_results=20,
    )
    for run in found:
        output_dir = run.data.tags.get("s3delta.local.output_dir")
        if output_dir:
            run_dir = Path(output_dir).parent.parent
            if run_dir.is_dir():
                return run_dir / "report"
    return paths.default_run_dir(sweep) / "report"


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


def ui_log_file(uri: str, port: int) -> Path:
    """Where the servers' own output (access log, startup lines) goes: beside a SQLite
    store, else in the temporary folder."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).absolute().parent / f"ui-{port}.log"
    return Path(tempfile.gettempdir()) / f"s3delta-ui-{port}.log"


def optuna_dashboard_command(storage: str, port: int) -> list[str]:
    """argv for optuna-dashboard on 127.0.0.1:port over one Optuna storage."""
    script = Path(sys.executable).with_name("optuna-dashboard")
    head = [str(script)] if script.exists() else ["optuna-dashboard"]
    return [*head, storage, "--host", "127.0.0.1", "--port", str(port)]


def sweep_storage(sweep: str) -> str:
    """The Optuna storage of a sweep run under the home (`<home>/<sweep>/optuna.db`, or
    $S3DELTA_OPTUNA_STORAGE), or exit 1 naming the sweeps there."""
    from orchestrator import paths

    run_dir = paths.default_run_dir(sweep)
    if (run_dir / "plan.json").is_file():
        return paths.default_optuna_storage(run_dir)
    home = paths.s3delta_home()
    known = sorted(d.name for d in home.glob("*") if (d / "plan.json").is_file())
    fail(
        f"no sweep {sweep!r} under {home} (sweeps there: {known or 'none'}); give one of "
        "those, set S3DELTA_HOME, or pass --optuna-storage URL"
    )


def answers(url: str, timeout: float = 2.0) -> bool:
    """True once ``url`` answers 200 OK."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:  # refused, reset, or an HTTPError status
        return False


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_servers(
    commands: list[list[str]],
    log: Path | None = None,
    ready: list[tuple[str, str]] | None = None,
    startup_s: float = 300.0,
) -> int:
    """Run ``commands`` as children; SIGTERM, SIGINT and SIGHUP stop them too (no orphan).
    With ``log``, their output goes to that file. ``ready``: (probe URL, line) pairs: each
    line is printed once its URL answers, so a printed link works when it is printed."""
    out = log.open("ab") if log is not None else None
    children = [
        subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if out else None)
        for argv in commands
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum if signum != signal.SIGHUP else signal.SIGTERM)

    previous = {
        s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    waiting = list(ready or [])
    deadline = time.monotonic() + startup_s
    try:
        while True:
            done = [c.poll() for c in children]
            if any(code is not None for code in done):
                code = next(c for c in done if c is not None)
                if waiting and code not in (-signal.SIGTERM, -signal.SIGINT):
                    _say_why(log)
                break
            while waiting and answers(waiting[0][0]):
                typer.echo(waiting.pop(0)[1])
            if waiting and time.monotonic() > deadline:
                typer.echo(f"error: {waiting[0][0]} did not answer in {startup_s:.0f} s", err=True)
                _say_why(log)
                code = 1
                break
            time.sleep(0.5 if waiting else 1.0)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if out is not None:
            out.close()
    return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code


def _say_why(log: Path | None) -> None:
    """The last lines of the servers' log, on stderr, when they fail to start."""
    if log is None or not log.is_file():
        return
    tail = log.read_text(errors="replace").splitlines()[-8:]
    typer.echo(f"the server stopped; last lines of {log}:", err=True)
    for line in tail:
        typer.echo(f"  {line}", err=True)


def ui(
    port: int = typer.Option(5000, "--port", help="port on 127.0.0.1"),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help="experiment to open"),
    optuna: str | None = typer.Option(
        None,
        "--optuna",
        help="also serve optuna-dashboard on 127.0.0.1 for this sweep's Optuna studies "
        "(a sweep name: its storage <home>/<sweep>/optuna.db)",
    ),
    optuna_storage: str | None = typer.Option(
        None, "--optuna-storage", help="with --optuna: this Optuna storage URL instead"
    ),
    optuna_port: int = typer.Option(8080, "--optuna-port", help="optuna-dashboard's port"),
) -> None:
    """Start the MLflow UI on the s3delta tracking store (127.0.0.1, one worker) and print
    its link once it answers; with --optuna, optuna-dashboard beside it. The servers'
    access logs go to a file (named on start). Ctrl-C stops them."""
    from orchestrator.results.client import default_tracking_uri, missing_sqlite_store

    uri = tracking_uri or default_tracking_uri()
    missing = missing_sqlite_store(uri)
    if missing is not None:
        fail(f"no MLflow store at {missing}; run a sweep first or pass --tracking-uri")
    with_optuna = optuna is not None or optuna_storage is not None
    ports = [(port, "--port")] + ([(optuna_port, "--optuna-port")] if with_optuna else [])
    for taken, option in ports:
        if port_in_use(taken):
            fail(f"127.0.0.1:{taken} is already in use (another UI?); pass another {option}")
    commands = [ui_command(port, tracking_uri)]
    ready = [
        (
            f"http://127.0.0.1:{port}/health",
            f"MLflow UI at {ui_url(port, uri, experiment)} (store {commands[0][5]})",
        )
    ]
    if with_optuna:
        storage = optuna_storage or sweep_storage(optuna or "")
        missing = missing_sqlite_store(storage)
        if missing is not None:
            fail(f"no Optuna storage at {missing}; has the sweep started?")
        commands.append(optuna_dashboard_command(storage, optuna_port))
        ready.append(
            (
                f"http://127.0.0.1:{optuna_port}/",
                f"optuna-dashboard at http://127.0.0.1:{optuna_port}/ (storage {storage})",
            )
        )
    log = ui_log_file(uri, port)
    log.parent.mkdir(parents=True, exist_ok=True)
    typer.echo(f"starting (server logs: {log}); Ctrl-C stops")
    raise typer.Exit(run_servers(commands, log, ready))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report)
    app.command("ui")(ui)
