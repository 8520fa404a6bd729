"""Small things a user notices: quiet workers, a readable progress line, `s3delta ui`
stopping its server, read-only commands that write nothing, and the help text."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.runner.progress import CellRow, ProgressView, SweepProgress
from orchestrator.sweep.plan import Cell

S3DELTA = Path(sys.executable).parent / "s3delta"


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty current directory with no store configured."""
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_trial_task_quiets_library_progress_bars_and_info_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers.utils.logging as hf_logging

    import workers.trial
    from orchestrator.runner.executor import execute_trial
    from workers.trial_types import TrialConfig

    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    hf_logging.enable_progress_bar()
    seen = {}

    def fake_run_trial(cfg: object, reporter: object) -> None:
        seen["bars"] = hf_logging.is_progress_bar_enabled()
        seen["verbosity"] = hf_logging.get_verbosity()
        raise RuntimeError("stop here")

    monkeypatch.setattr(workers.trial, "run_trial", fake_run_trial)
    outcome = execute_trial(TrialConfig(task="glue/sst2", method="random"), "k", None)
    assert outcome.status == "failed" and "stop here" in outcome.error
    assert seen == {"bars": False, "verbosity": hf_logging.ERROR}
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    hf_logging.enable_progress_bar()


def test_the_plain_progress_line_names_tuning_and_final_counts_once() -> None:
    out = io.StringIO()
    row = CellRow(Cell("glue/sst2", "s3delta", "1%", 2, (1, 2, 3), ("delta_lr",)), state="tune")
    with ProgressView(SweepProgress([row], concurrency=1), "demo", stream=out):
        pass
    text = out.getvalue()
    assert "tune tune" not in text
    assert "glue/sst2 s3delta 1%: tuning; tuning trials 0/2, final seeds 0/3" in text


def test_results_and_client_from_another_directory_write_nothing(elsewhere: Path) -> None:
    from orchestrator.results.client import Client, ResultsError

    result = CliRunner().invoke(app, ["results", "demo"])
    assert result.exit_code == 1
    assert result.output.startswith("error: no MLflow store at ")
    with pytest.raises(ResultsError, match="no MLflow store"):
        Client()
    result = CliRunner().invoke(app, ["best", "demo", "--task", "glue/sst2", "--budget", "1%"])
    assert result.exit_code == 1
    assert list(elsewhere.iterdir()) == []  # no runs/mlflow.db


def test_help_shows_no_bool_placeholders_the_no_log_flag_and_a_version() -> None:
    runner = CliRunner()
    for command in (["report", "--help"], ["results", "--help"], ["--help"]):
        text = runner.invoke(app, command, terminal_width=120).output
        assert "<bool>" not in text, command
    report_help = runner.invoke(app, ["report", "--help"], terminal_width=120).output
    assert "--no-log" in report_help and "only write the" in report_help
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("s3delta ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.heavy
def test_ui_prints_links_once_they_answer_logs_to_a_file_and_stops_its_servers_on_sigterm(
    tmp_path: Path,
) -> None:
    """`s3delta ui --optuna-storage`: MLflow and optuna-dashboard, each link printed only once
    its server answers, their access logs in a file (a few lines on the console), and
    SIGTERM stops both."""
    import optuna

    from orchestrator.runner.tracking import SweepTracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = SweepTracker(uri, "s3delta", tmp_path / "art")
    storage = f"sqlite:///{tmp_path}/optuna.db"
    optuna.create_study(study_name="demo/glue/sst2/s3delta/0.01%", storage=storage)
    port, optuna_port = _free_port(), _free_port()
    log = (tmp_path / "ui.out").open("w+")
    proc = subprocess.Popen(
        [
            str(S3DELTA),
            "ui",
            "--port",
            str(port),
            "--tracking-uri",
            uri,
            "--optuna-storage",
            storage,
            "--optuna-port",
            str(optuna_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "optuna-dashboard at" not in Path(log.name).read_text():
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "the servers did not come up"
            time.sleep(1)
        lines = Path(log.name).read_text().splitlines()
        link = next(line for line in lines if line.startswith("MLflow UI at"))
        assert f"#/experiments/{tracker.experiment_id}/runs?workflowType=machine_learning" in link
        assert _serving(port)  # printed only once it answers
        with urllib.request.urlopen(f"http://127.0.0.1:{optuna_port}/api/studies") as reply:
            assert b"demo/glue/sst2/s3delta/0.01%" in reply.read()
        # a few page loads: their access-log lines go to the file, not the console
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).close()
        time.sleep(1)
        assert len(Path(log.name).read_text().splitlines()) < 10, Path(log.name).read_text()
        server_log = tmp_path / f"ui-{port}.log"
        assert f"server logs: {server_log}" in lines[0] and server_log.stat().st_size > 0
        proc.send_signal(signal.SIGTERM)  # only to s3delta, not to its process group
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while (_serving(port) or _answers(optuna_port)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _serving(port), "the MLflow server outlived `s3delta ui`"
        assert not _answers(optuna_port), "optuna-dashboard outlived `s3delta ui`"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
            return True
    except OSError:
        return False


def test_ui_optuna_names_the_sweeps_it_knows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("S3DELTA_OPTUNA_STORAGE", raising=False)
    (tmp_path / "mlflow.db").write_bytes(b"")
    (tmp_path / "quickstart").mkdir()
    (tmp_path / "quickstart" / "plan.json").write_text("{}")
    from orchestrator.cli.report import sweep_storage

    assert sweep_storage("quickstart") == f"sqlite:///{tmp_path}/quickstart/optuna.db"
    result = CliRunner().invoke(app, ["ui", "--optuna", "nope"])
    assert result.exit_code == 1
    assert "no sweep 'nope'" in result.output and "['quickstart']" in result.output


def test_ui_refuses_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        uri = f"sqlite:///{tmp_path}/mlflow.db"
        result = CliRunner().invoke(app, ["ui", "--port", str(port), "--tracking-uri", uri])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: 127.0.0.1:{port} is already in use (another UI?); pass another --port"
    )
