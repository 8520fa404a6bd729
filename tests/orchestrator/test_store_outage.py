"""Issue 23, fault 5: a store outage is said and waited out; SIGTERM ends the driver within
seconds even while the store is away.

A real `mlflow server` is killed under a running driver and started again on the same
port: the driver says the store is unreachable, retries, says it is back, and the sweep
ends with one FINISHED run per key. Killed again, a SIGTERM ends the driver within
seconds with its one-line stop message; `--resume` then completes the sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from test_run_support import (
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    free_port,
    render_sweep,
    service_env,
    start_cli,
    start_mlflow_server,
    stop_session,
    trial_runs,
)

EXPERIMENT = "e2e-store-outage"


def test_an_mlflow_call_is_retried_while_the_server_is_away_and_said(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.runner.store_retry import retrying, stop_now, wait_again

    # a stopped driver earlier in this process (test_run_cleanup signals itself) no
    # longer leaves the retries off: the next driver, or wait_again, turns them back on
    stop_now()
    wait_again()
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            import requests

            try:
                raise requests.exceptions.ConnectionError("Connection refused")
            except requests.exceptions.ConnectionError:
                from mlflow.exceptions import MlflowException

                raise MlflowException("API request to x failed with exception ...") from None
        return "ok"

    assert retrying(flaky, "the MLflow tracking store http://x", retry_s=30)() == "ok"
    err = capfd.readouterr().err.splitlines()
    assert err == [
        "the MLflow tracking store http://x is unreachable; retrying for up to 30 s",
        "the MLflow tracking store http://x is reachable again; going on",
    ]


def _server(port: int, backend: str, artifacts: Path, log: Path) -> subprocess.Popen[Any]:
    return start_mlflow_server(port, backend, artifacts, log, timeout_s=180)


def _wait(predicate, timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_driver_waits_out_an_mlflow_server_restart_and_stops_fast_while_it_is_down(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    server_log = tmp_path / "server.log"
    server = _server(port, backend, tmp_path / "artifacts", server_log)
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)

    def sweep(name: str) -> Path:
        return render_sweep(
            "tiny_tuned.yaml",
            tmp_path,
            name=name,
            model=tiny_bert_dir,
            data=SHARED_DATA,
            mlflow=uri,
            experiment=EXPERIMENT,
            steps=60,
            trials=3,
            storage=None,
        )

    try:
        # 1. the server restarts under a running driver: said, waited out, finished
        log = tmp_path / "outage.log"
        driver = start_cli(["run", str(sweep("outage"))], env, log)
        try:
            _wait(lambda: "tune trial 0:" in log.read_text(), 300, "no trial ended", log)
            stop_session(server, grace_s=5)
            _wait(lambda: "is unreachable; retrying" in log.read_text(), 120, "not said", log)
            time.sleep(5)
            server = _server(port, backend, tmp_path / "artifacts", server_log)
            _wait(lambda: "is reachable again" in log.read_text(), 120, "not said back", log)
            assert driver.wait(timeout=400) == 0, log.read_text()[-3000:]
        finally:
            stop_session(driver, grace_s=5)
        assert "Traceback" not in log.read_text()
        keys = expected_keys("outage", ["random"], ["1%"], seeds=[1], tune_trials=3)
        assert finished_by_key(trial_runs(uri, EXPERIMENT, "outage")) == dict.fromkeys(keys, 1)

        # 2. SIGTERM while the server is down: the driver ends within seconds, in one line
        path = sweep("stopped")
        log = tmp_path / "stopped.log"
        driver = start_cli(["run", str(path)], env, log)
        try:
            _wait(lambda: "tune trial 0:" in log.read_text(), 300, "no trial ended", log)
            stop_session(server, grace_s=5)
            _wait(lambda: "is unreachable; retrying" in log.read_text(), 120, "not said", log)
            started = time.monotonic()
            os.kill(driver.pid, signal.SIGTERM)
            rc = driver.wait(timeout=60)
            took = time.monotonic() - started
        finally:
            stop_session(driver, grace_s=5)
        text = log.read_text()
        assert rc == 128 + signal.SIGTERM, text[-3000:]
        assert took < 30, (took, text[-3000:])
        assert "Traceback" not in text, text[-3000:]
        last = text.strip().splitlines()[-1]
        assert "stopped by SIGTERM" in last and "--resume" in last, last

        server = _server(port, backend, tmp_path / "artifacts", server_log)
        resumed = tmp_path / "resumed.log"
        proc = start_cli(["run", str(path), "--resume"], env, resumed)
        try:
            assert proc.wait(timeout=400) == 0, resumed.read_text()[-3000:]
        finally:
            stop_session(proc, grace_s=5)
        keys = expected_keys("stopped", ["random"], ["1%"], seeds=[1], tune_trials=3)
        assert finished_by_key(trial_runs(uri, EXPERIMENT, "stopped")) == dict.fromkeys(keys, 1)
    finally:
        stop_session(server, grace_s=5)
