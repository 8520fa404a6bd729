"""deploy/local-cluster.sh refuses before starting anything: a taken port, an unreachable
PostgreSQL, an unknown action. Start, status and stop for real, with a sweep job on the
cluster between them, are in test_local_cluster_sweep.py (one cluster for all of them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_cli import REPO

SCRIPT = REPO / "deploy" / "local-cluster.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(action: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=timeout
    )


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
    _run("stop", env, timeout=120)  # a no-op unless a refusal failed to refuse
    shutil.rmtree(state, ignore_errors=True)


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
