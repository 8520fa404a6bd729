"""Helpers for the `s3delta run` tests: real services (Ray head, MLflow server) started
as our own process sessions and stopped by session, never by name.

No tests here; the module name keeps it inside the run tests' files.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
SHARED_DATA = REPO.parent / "shared" / "data"
SWEEPS = Path(__file__).parent / "sweeps"
POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
# Optuna and MLflow both keep an `alembic_version` table: Optuna gets its own schema.
OPTUNA_SCHEMA = "s3delta_optuna"
OPTUNA_POSTGRES_URL = f"{POSTGRES_URL}?options=-csearch_path%3D{OPTUNA_SCHEMA}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_sweep(template: str, out_dir: Path, **values: Any) -> Path:
    """Fill `@KEY@` fields of a template in tests/orchestrator/sweeps; None becomes null."""
    text = (SWEEPS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", "null" if value is None else str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"{template}: fields {left} not filled in"
    path = out_dir / f"{values.get('name', 'sweep')}.yaml"
    path.write_text(text)
    return path


def service_env(**extra: str) -> dict[str, str]:
    """Environment for the CLI and services: the venv first on PATH, offline, no Ray auth."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra)
    return env


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "-s", str(sid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def stop_session(proc: subprocess.Popen[Any], grace_s: float = 8.0) -> None:
    """SIGTERM the session this test started, then SIGKILL whatever is left in it."""
    sid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _session_pids(sid)
        if not pids:
            break
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _session_pids(sid):
            time.sleep(0.5)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {timeout_s}s:\n{log.read_text()[-3000:]}")


def start_mlflow_server(
    port: int, backend_uri: str, artifacts: Path, log: Path, timeout_s: float = 120
) -> subprocess.Popen[Any]:
    """A real `mlflow server` (one worker) on ``port``, once it answers; its output is
    appended to ``log`` (a restart on the same port keeps the earlier lines)."""
    cmd = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log, "a") as out:
        proc = subprocess.Popen(
            cmd, env=service_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout_s, proc, log)
    except BaseException:
        stop_session(proc)
        raise
    return proc


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path) -> Iterator[str]:
    """A real `mlflow server` (one worker) on a free loopback port, for a `with` block."""
    port = free_port()
    log.write_text("")
    proc = start_mlflow_server(port, backend_uri, artifacts, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_session(proc)


@contextmanager
def ray_head(temp_dir: Path, log: Path) -> Iterator[dict[str, str]]:
    """`ray start --head --block` on loopback with its own ports and temp dir."""
    port, dash = free_port(), free_port()
    cmd = [
        str(VENV_BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--port",
        str(port),
        "--dashboard-port",
        str(dash),
        "--dashboard-host",
        "127.0.0.1",
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        "2",
        "--num-gpus",
        "0",
        "--include-dashboard",
        "true",
        "--temp-dir",
        str(temp_dir),
        "--ray-client-server-port",
        str(free_port()),
        "--dashboard-agent-listen-port",
        str(free_port()),
        "--metrics-export-port",
        str(free_port()),
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=service_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_http(f"http://127.0.0.1:{dash}/api/version", 120, proc, log)
        yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dash}"}
    finally:
        stop_session(proc, grace_s=3)  # Ray's GCS may ignore SIGTERM: not 8 s of waiting


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[Any]:
    """`s3delta ARGS` in its own session (so the test can kill it and all it started)."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(VENV_BIN / "s3delta"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )


def run_cli(args: list[str], env: dict[str, str], log: Path, timeout_s: float) -> int:
    proc = start_cli(args, env, log)
    try:
        return proc.wait(timeout=timeout_s)
    finally:
        stop_session(proc, grace_s=5)


def trial_runs(tracking_uri: str, experiment: str, sweep: str) -> list[Any]:
    """Every child run of a sweep (any status)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.`s3delta.kind` = 'trial' and tags.`s3delta.sweep` = '{sweep}'",
        max_results=1000,
    )


def finished_by_key(runs: list[Any]) -> Counter[str]:
    return Counter(r.data.tags["s3delta.key"] for r in runs if r.info.status == "FINISHED")


def expected_keys(
    sweep: str, methods: list[str], budgets: list[str], seeds: list[int], tune_trials: int = 1
) -> set[str]:
    """Keys of a sweep over glue/sst2 (tune trials numbered from 0 in each cell's study)."""
    keys = set()
    for method in methods:
        for budget in budgets:
            base = f"{sweep}|glue/sst2|{method}|{budget}"
            keys |= {f"{base}|tune|trial={n}" for n in range(tune_trials)}
            keys |= {f"{base}|final|seed={s}" for s in seeds}
    return keys


def trial_result(**fields: Any) -> Any:
    """A `TrialResult` with the given fields and empty or zero values for the rest (what
    the MLflow tests record without running a trial)."""
    from workers.trial_types import TrialResult

    base: dict[str, Any] = {
        "config": {},
        "structure": None,
        "probabilities": None,
        "expected_size_trajectory": [],
        "search_dev": {},
        "dev": {},
        "test": {},
        "dev_score": 0.0,
        "test_score": 0.0,
        "delta_params": 0,
        "head_params": 0,
        "backbone_params": 0,
        "budget_params": None,
        "split_sizes": {},
        "wall_time_s": 0.0,
        "device": "cpu",
    }
    return TrialResult(**{**base, **fields})


def log_trial(
    tracker: Any,
    key: Any,
    config: Any,
    outcome: Any,
    events: Any,
    attempts: int,
    cell_run_id: str | None = None,
) -> str:
    """Write a whole trial's run at once, as the driver does in two steps (start, finish)."""
    tracker.start_trial(key, config, cell_run_id)
    return str(tracker.finish_trial(key, config, outcome, events, attempts))
