"""One sweep, one driver: schemas created once when drivers start together, a second driver
of a sweep refused naming the first (run dir lock, and PostgreSQL for other machines)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from test_run_support import (
    POSTGRES_URL,
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    render_sweep,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.kinds import run_sweep_file
from orchestrator.runner.lock import SweepLockedError

ENSURE = """
import sys, time
from orchestrator.runner.db_lock import ensure_schemas
start = float(sys.argv[3])
while time.time() < start:
    pass
ensure_schemas(sys.argv[1], sys.argv[2])
print("ok")
"""

HOLD_DB_LOCK = """
import sys, time
from orchestrator.runner.db_lock import sweep_db_guard
with sweep_db_guard(sys.argv[1], sys.argv[2], sys.argv[3]):
    print("held", flush=True)
    time.sleep(120)
"""


def _postgres_available() -> bool:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


needs_postgres = pytest.mark.skipif(
    not _postgres_available(), reason="PostgreSQL at 127.0.0.1:5432/test is not running"
)


@pytest.fixture
def pg_schemas() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL schemas (MLflow's, Optuna's) as URLs; dropped afterwards."""
    from sqlalchemy import create_engine, text

    tag = uuid.uuid4().hex[:10]
    names = (f"h15_mlflow_{tag}", f"h15_optuna_{tag}")
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in names:
            conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield tuple(f"{POSTGRES_URL}?options=-csearch_path%3D{name}" for name in names)  # type: ignore[misc]
    finally:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        engine.dispose()


def _start_together(tracking: str, storage: str, n: int) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 15  # every process imported and waiting when the moment comes
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENSURE, tracking, storage, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _check_stores(tracking: str, storage: str) -> None:
    import optuna
    from mlflow.tracking import MlflowClient

    assert MlflowClient(tracking).search_experiments()  # the Default experiment
    optuna.create_study(study_name="after", storage=storage, load_if_exists=True)


@pytest.mark.slow  # ~100 s on a loaded 2-core machine: three processes import MLflow
def test_schemas_are_created_once_when_drivers_start_together_sqlite(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    storage = f"sqlite:///{tmp_path / 'home' / 'sweep' / 'optuna.db'}"
    results = _start_together(tracking, storage, 3)
    for result in results:  # unserialised, MLflow's migrations race: duplicate column name
        assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
    _check_stores(tracking, storage)


@pytest.mark.slow
@needs_postgres
def test_schemas_are_created_once_when_drivers_start_together_postgres(
    pg_schemas: tuple[str, str],
) -> None:
    tracking, storage = pg_schemas
    results = _start_together(tracking, storage, 3)
    for result in results:
        assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
    _check_stores(tracking, storage)


@needs_postgres
def test_a_driver_on_another_machine_is_refused_through_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_schemas: tuple[str, str]
) -> None:
    """Two run dirs (as on two machines) share the Optuna database: its lock refuses."""
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_OPTUNA_STORAGE", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path / "home"))
    tracking, storage = pg_schemas
    sweep_name = f"shared-{uuid.uuid4().hex[:8]}"
    path = render_sweep(
        "tiny_one_budget.yaml",
        tmp_path,
        name=sweep_name,
        model="sentence-transformers/all-MiniLM-L6-v2",
        data=SHARED_DATA,
        storage=f'"{storage}"',
        mlflow=f'"{tracking}"',
        experiment="h15-shared",
        steps=5,
        methods="[random]",
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DB_LOCK, tracking, storage, sweep_name],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(SweepLockedError, match=rf"by pid {holder.pid} on \S+ \(since "):
            run_sweep_file(path, run_dir=tmp_path / "machine-b")
        assert not ray.is_initialized()
        result = CliRunner().invoke(app, ["run", str(path), "--run-dir", str(tmp_path / "m-c")])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0], result.output
        assert "seen through its lock in postgresql" in lines[0]
        assert "Traceback" not in result.output
    finally:
        holder.kill()
        holder.wait()
    from orchestrator.runner.db_lock import db_holder

    deadline = time.monotonic() + 10  # PostgreSQL ends the dead holder's session
    while db_holder(storage, sweep_name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert db_holder(storage, sweep_name) is None


def _sweeps(tmp_path: Path, names: list[str], model: Path, mlflow: str | None, storage: str | None):
    return [
        render_sweep(
            "tiny_one_budget.yaml",
            tmp_path,
            name=name,
            model=model,
            data=SHARED_DATA,
            storage=storage and f'"{storage}"',
            mlflow=mlflow and f'"{mlflow}"',
            experiment="h15-concurrent",
            steps=10,
            methods="[random]",
        )
        for name in names
    ]


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
        finally:
            stop_session(proc, grace_s=5)
    return codes


def _one_run_per_key(tracking: str, sweep: str) -> None:
    runs = trial_runs(tracking, "h15-concurrent", sweep)
    keys = expected_keys(sweep, ["random"], ["1%"], seeds=[1, 2])
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    assert {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("stores", ["sqlite", "postgresql"])
def test_concurrent_drivers_on_a_new_home(
    stores: str, tmp_path: Path, tiny_bert_dir: Path, request: pytest.FixtureRequest
) -> None:
    """Drivers of two new sweeps start at once on a new home (or new PostgreSQL schemas):
    both finish. A third driver of the first sweep, started with them, is refused in one
    line naming the holder; with PostgreSQL it has its own run dir (another machine)."""
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    tag = uuid.uuid4().hex[:6]
    names = [f"first-{tag}", f"second-{tag}"]
    if stores == "sqlite":
        tracking, storage = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}", None
        third_args: list[str] = []
    else:
        if not _postgres_available():
            pytest.skip("PostgreSQL at 127.0.0.1:5432/test is not running")
        tracking, storage = request.getfixturevalue("pg_schemas")
        third_args = ["--run-dir", str(tmp_path / "machine-b")]
    first, second = _sweeps(tmp_path, names, tiny_bert_dir, tracking, storage)
    logs = [tmp_path / f"driver{i}.log" for i in range(3)]
    procs = [
        start_cli(["run", str(first)], env, logs[0]),
        start_cli(["run", str(second)], env, logs[1]),
        start_cli(["run", str(first), *third_args], env, logs[2]),
    ]
    codes = _wait_all(procs, timeout_s=900)
    texts = [log.read_text() for log in logs]
    refused = [i for i in (0, 2) if codes[i] == 2]
    assert codes[1] == 0, texts[1][-4000:]
    assert len(refused) == 1 and codes[2 - refused[0]] == 0, (codes, texts)
    winner = procs[2 - refused[0]]
    message = texts[refused[0]].strip().splitlines()
    assert "Traceback" not in texts[refused[0]]
    assert f"is already being run by pid {winner.pid} on " in message[-1], message
    for text in texts:
        assert "duplicate column" not in text and "alembic_version already exists" not in text
    for name in names:
        _one_run_per_key(tracking, name)
