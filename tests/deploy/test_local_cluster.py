"""deploy/local-cluster.sh start/status/stop, for real: MLflow on PostgreSQL and two Ray nodes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_cli import REPO

SCRIPT = REPO / "deploy" / "local-cluster.sh"
RAY = REPO / ".venv" / "bin" / "ray"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run(action: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=timeout
    )


def _alive_pids(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def _session_members(sid: int) -> list[int]:
    done = subprocess.run(["ps", "-o", "pid=", "-s", str(sid)], capture_output=True, text=True)
    return [int(line) for line in done.stdout.split()]


@pytest.fixture
def cluster_env() -> Iterator[dict[str, str]]:
    """Settings for one cluster: its own ports and a short state dir (Ray's socket paths)."""
    state = Path(tempfile.mkdtemp(prefix="s3dlc-"))
    env = {
        **os.environ,
        "S3DELTA_LOCAL_STATE": str(state),
        "S3DELTA_MLFLOW_PORT": str(_free_port()),
        "S3DELTA_RAY_PORT": str(_free_port()),
        "S3DELTA_DASHBOARD_PORT": str(_free_port()),
        "RAY_AUTH_MODE": "disabled",
    }
    yield env
    _run("stop", env, timeout=120)  # a no-op when the test stopped it already
    shutil.rmtree(state, ignore_errors=True)


@pytest.mark.e2e
@pytest.mark.heavy
def test_local_cluster_start_status_stop(cluster_env: dict[str, str]) -> None:
    state = Path(cluster_env["S3DELTA_LOCAL_STATE"])
    mlflow_port = int(cluster_env["S3DELTA_MLFLOW_PORT"])
    ray_port = int(cluster_env["S3DELTA_RAY_PORT"])
    dashboard_port = int(cluster_env["S3DELTA_DASHBOARD_PORT"])

    started = time.monotonic()
    start = _run("start", cluster_env, timeout=300)
    assert start.returncode == 0, f"start failed:\n{start.stdout}\n{start.stderr}"
    print(f"start took {time.monotonic() - started:.0f}s")

    with urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/health", timeout=10) as reply:
        assert reply.status == 200

    # Ray's own CLI, not the script's check: two active nodes behind GCS port ray_port.
    # The autoscaler's report lags the GCS by a few seconds on a loaded machine: poll it.
    deadline = time.monotonic() + 60
    while True:
        ray_status = subprocess.run(
            [str(RAY), "status", "--address", f"127.0.0.1:{ray_port}"],
            env=cluster_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ray_status.returncode == 0, ray_status.stderr
        active = ray_status.stdout.split("Active:")[1].split("Pending:")[0]
        if active.count("node_") == 2 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert active.count("node_") == 2, ray_status.stdout

    databases = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAt", "-c",
         "select datname from pg_database where datname like 's3delta_%'"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert {"s3delta_mlflow", "s3delta_optuna"} <= set(databases)

    status = _run("status", cluster_env, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "ray alive nodes: 2" in status.stdout
    env_file = (state / "env.sh").read_text()
    assert f"RAY_ADDRESS=http://127.0.0.1:{dashboard_port}" in env_file
    assert "RAY_AUTH_MODE=disabled" in env_file
    assert "S3DELTA_OPTUNA_STORAGE=postgresql+psycopg2://" in env_file

    leaders = [int((state / f"{s}.pid").read_text()) for s in ("mlflow", "ray-head", "ray-worker")]
    members = [pid for sid in leaders for pid in _session_members(sid)]
    assert len(members) > len(leaders)  # Ray's GCS, raylets, dashboard, uvicorn...

    stopped = time.monotonic()
    stop = _run("stop", cluster_env, timeout=120)
    assert stop.returncode == 0, stop.stderr
    print(f"stop took {time.monotonic() - stopped:.0f}s")
    assert _alive_pids(members) == []
    for port in (mlflow_port, ray_port, dashboard_port):
        assert not _listening(port), f"port {port} still open after stop"
    assert _run("status", cluster_env, timeout=60).returncode != 0


def test_taken_port_is_refused_before_anything_starts(cluster_env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = {**cluster_env, "S3DELTA_DASHBOARD_PORT": str(taken)}
        start = _run("start", env, timeout=60)
    assert start.returncode != 0
    assert f"port {taken}" in start.stderr and "S3DELTA_DASHBOARD_PORT" in start.stderr
    assert not list(Path(cluster_env["S3DELTA_LOCAL_STATE"]).glob("*.pid"))


def test_unreachable_postgres_names_the_settings(cluster_env: dict[str, str]) -> None:
    env = {**cluster_env, "S3DELTA_PG_PORT": str(_free_port())}
    start = _run("start", env, timeout=60)
    assert start.returncode != 0
    assert "PostgreSQL does not answer" in start.stderr and "S3DELTA_PG_PORT" in start.stderr
    assert not list(Path(cluster_env["S3DELTA_LOCAL_STATE"]).glob("*.pid"))


def test_unknown_action_prints_usage(cluster_env: dict[str, str]) -> None:
    done = _run("restart", cluster_env, timeout=30)
    assert done.returncode != 0 and "usage:" in done.stderr
