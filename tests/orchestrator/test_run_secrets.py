"""A password in a storage URL appears nowhere a run writes or prints.

The Optuna storage is the local PostgreSQL (trust auth, so any password connects) with
a password in its URL, written the way the validator's fix suggests (`postgresql://`,
which must work with the installed driver). After a whole `s3delta validate` and
`s3delta run`, every byte the commands printed and every file under the test's folder
(run dir, MLflow SQLite store, artifacts: sweep.yaml, plan.json) is searched for it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from test_run_support import (
    OPTUNA_SCHEMA,
    POSTGRES_URL,
    SHARED_DATA,
    VENV_BIN,
    render_sweep,
    run_cli,
    service_env,
)

pytestmark = pytest.mark.e2e
PASSWORD = "Hunter2-Sekr1t-s3delta"


@pytest.mark.heavy
def test_the_storage_password_is_never_printed_or_stored(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
    engine.dispose()
    storage = (
        f"'postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test"
        f"?options=-csearch_path%3D{OPTUNA_SCHEMA}'"
    )
    work = tmp_path / "work"
    work.mkdir()
    sweep = render_sweep(
        "tiny_one_budget.yaml",
        work,
        # the PostgreSQL database outlives the test: a fresh name per run, never a rerun
        name=f"secrets-{uuid.uuid4().hex[:10]}",
        model=tiny_bert_dir,
        data=SHARED_DATA,
        storage=storage,
        mlflow=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="secrets",
        steps=2,
        methods="[manual/bitfit]",
    )
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    validated = subprocess.run(
        [str(VENV_BIN / "s3delta"), "validate", str(sweep)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stderr
    log = tmp_path / "run.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=540) == 0, log.read_text()[-4000:]

    assert PASSWORD not in validated.stdout + validated.stderr
    assert "postgres:***@127.0.0.1" in validated.stdout
    leaks = [
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file() and path != sweep and PASSWORD.encode() in path.read_bytes()
    ]
    assert leaks == [], f"the password is stored in {leaks}"
    written = {path.name for path in tmp_path.rglob("*") if path.is_file()}
    assert {"sweep.yaml", "plan.json", "mlflow.db"} <= written
