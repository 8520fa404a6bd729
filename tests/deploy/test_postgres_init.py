"""The compose PostgreSQL init script, run for real against this machine's PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from compose_cli import REPO

INIT_SCRIPT = REPO / "docker" / "postgres-init" / "10-create-optuna-db.sh"
PG = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres", "-qAt"]


def _database_exists(name: str) -> bool:
    query = f"select 1 from pg_database where datname = '{name}'"
    done = subprocess.run([*PG, "-c", query], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "1"


@pytest.mark.e2e
def test_init_script_creates_the_optuna_database() -> None:
    """Run as the postgres image runs it: POSTGRES_USER/POSTGRES_DB set, psql on PATH."""
    name = f"s3delta_init_test_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "S3DELTA_OPTUNA_DB": name,
    }
    try:
        done = subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert _database_exists(name)
        again = subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True)
        assert again.returncode != 0 and "already exists" in again.stderr
    finally:
        subprocess.run([*PG, "-c", f'drop database if exists "{name}"'], check=True)
    assert not _database_exists(name)
