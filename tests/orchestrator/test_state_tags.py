"""State tags say what happened (issue 23, fault 6): `s3delta runs` finds a sweep from
the MLflow store's sweep runs, so a sweep on PostgreSQL, and one run with `--run-dir`
outside the home, are listed with their state without their sweep files; a driver stopped
by SIGTERM tags its sweep run interrupted and a resumed sweep that finishes carries no
stale `interrupted` (test_run_cleanup.py, the real driver)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from test_run_support import (
    OPTUNA_POSTGRES_URL,
    OPTUNA_SCHEMA,
    POSTGRES_URL,
    VENV_BIN,
    service_env,
)

from orchestrator.paths import sqlite_uri

CELLS = [{"task": "glue/sst2", "method": "random", "budget": "1%", "seeds": [1, 2]}]


def _postgres_up() -> bool:
    """Reachable, and with Optuna's schema created (idempotent), as test_run_postgres."""
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(POSTGRES_URL).begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
            return True
    except sqlalchemy.exc.OperationalError:
        return False


def _run_dir(folder: Path, name: str, sweep_yaml: str = "") -> Path:
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(json.dumps({"name": name, "cells": CELLS}))
    if sweep_yaml:
        (folder / "sweep.yaml").write_text(sweep_yaml)
    return folder


def _sweep_run(
    uri: str, experiment: str, name: str, run_dir: Path, storage: str, status: str, state: str
) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    tags = {
        "s3delta.kind": "sweep",
        "s3delta.sweep": name,
        "s3delta.run_dir": str(run_dir),
        "s3delta.optuna_storage": storage,
        "s3delta.state": state,
    }
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    client.set_terminated(run.info.run_id, status=status)
    return str(run.info.run_id)


def _rows(home: Path) -> dict[str, list[str]]:
    out = subprocess.run(
        [str(VENV_BIN / "s3delta"), "runs"],
        env=service_env(S3DELTA_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:] if line.strip()}


def test_runs_lists_postgres_and_run_dir_sweeps_from_their_sweep_runs(tmp_path: Path) -> None:
    if not _postgres_up():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    home = tmp_path / "home"
    home.mkdir()
    tag = uuid.uuid4().hex[:8]

    # a sweep whose file put MLflow and Optuna on PostgreSQL: its run dir is in the home
    pg_name = f"pg-{tag}"
    own = f"mlflow:\n  tracking_uri: '{POSTGRES_URL}'\n  experiment: state-tags-{tag}\n"
    own += f"optuna:\n  storage: '{OPTUNA_POSTGRES_URL}'\n"
    pg_dir = _run_dir(home / pg_name, pg_name, own)
    pg_run = _sweep_run(
        POSTGRES_URL, f"state-tags-{tag}", pg_name, pg_dir, OPTUNA_POSTGRES_URL, "FINISHED",
        "finished",
    )  # fmt: skip
    try:
        _check_rows(home, tmp_path, tag)
    finally:  # the shared store keeps no sweep whose run dir is gone
        from mlflow.tracking import MlflowClient

        client = MlflowClient(POSTGRES_URL)
        client.delete_run(pg_run)
        client.delete_experiment(client.get_run(pg_run).info.experiment_id)


def _check_rows(home: Path, tmp_path: Path, tag: str) -> None:
    home_uri = sqlite_uri(home / "mlflow.db")
    pg_name = f"pg-{tag}"
    # a sweep run with --run-dir elsewhere, recorded in the home's store, stopped
    far_name = f"far-{tag}"
    far_dir = _run_dir(tmp_path / "elsewhere" / far_name, far_name)
    far_storage = sqlite_uri(far_dir / "optuna.db")
    _sweep_run(home_uri, "state-tags", far_name, far_dir, far_storage, "KILLED", "interrupted")
    # and a plain one, in the home with the home's store, incomplete
    plain_dir = _run_dir(home / "plain", "plain")
    _sweep_run(
        home_uri, "state-tags", "plain", plain_dir, sqlite_uri(plain_dir / "optuna.db"), "FAILED",
        "incomplete: 2 failed",
    )  # fmt: skip

    rows = _rows(home)
    assert rows[pg_name][1:4] == ["finished", "FINISHED", "0"], rows  # was: not started
    assert rows[far_name][1:4] == ["stopped", "KILLED", "0"], rows  # was: not listed
    assert rows[far_name][-1] == str(far_dir)
    assert rows["plain"][1:3] == ["incomplete:", "2"], rows
    mine = {name for name in rows if tag in name or name == "plain"}
    assert mine == {pg_name, far_name, "plain"}, rows


def _tags(uri: str, run_id: str) -> tuple[str, str]:
    from mlflow.tracking import MlflowClient

    run = MlflowClient(uri).get_run(run_id)
    return run.info.status, run.data.tags.get("s3delta.state", "")


def test_a_stopped_sweep_is_tagged_interrupted_and_its_resumed_runs_lose_the_tag(
    tmp_path: Path,
) -> None:
    """The tag lifecycle the driver writes (run_sweep): a stop, then a finishing resume."""
    from orchestrator.runner.keys import TrialKey
    from orchestrator.runner.outcome import TrialOutcome
    from orchestrator.runner.tracking import INTERRUPTED, SweepTracker
    from workers.trial_types import TrialConfig

    uri = sqlite_uri(tmp_path / "mlflow.db")
    (tmp_path / "s.yaml").write_text("name: s\n")
    key = TrialKey("s", "glue/sst2", "random", "1%", "final", 1)
    tracker = SweepTracker(uri, "tags", tmp_path / "artifacts")
    parent = tracker.start_parent("s", tmp_path / "s.yaml", {"cells": CELLS}, {})
    cell = tracker.start_cell("s", "glue/sst2", "random", "1%")
    trial = tracker.start_trial(key, TrialConfig(seed=1), cell)
    tracker.end_parent("KILLED", INTERRUPTED)  # SIGTERM: run_sweep's finally
    assert _tags(uri, parent) == ("KILLED", "interrupted")
    assert _tags(uri, cell) == ("FAILED", "interrupted")
    assert _tags(uri, trial) == ("FAILED", "interrupted")

    resumed = SweepTracker(uri, "tags", tmp_path / "artifacts")
    resumed.close_stale("s")
    resumed.recorded("s")
    assert resumed.start_parent("s", tmp_path / "s.yaml", {}, {}, resume_id=parent) == parent
    assert resumed.start_cell("s", "glue/sst2", "random", "1%") == cell
    assert _tags(uri, parent) == ("RUNNING", "running")
    assert _tags(uri, cell) == ("RUNNING", "running")
    assert resumed.start_trial(key, TrialConfig(seed=1), cell) == trial  # reused
    assert _tags(uri, trial) == ("RUNNING", "running")
    resumed.finish_trial(key, TrialConfig(seed=1), TrialOutcome.failed("boom"), [], 1)
    assert _tags(uri, trial) == ("FAILED", "failed")
    resumed.log_summary(cell, {}, "FINISHED")  # the cell closed when its trials are done
    assert _tags(uri, cell) == ("FINISHED", "finished")
    resumed.end_parent("FAILED", "failed")  # an error ends the driver
    assert _tags(uri, parent) == ("FAILED", "failed")


def test_a_subspace_sweep_run_says_how_it_ended(tmp_path: Path) -> None:
    from orchestrator.runner.subspace_tracking import SubspaceTracker

    uri = sqlite_uri(tmp_path / "mlflow.db")
    (tmp_path / "s.yaml").write_text("name: s\n")
    tracker = SubspaceTracker(uri, "sub", tmp_path / "artifacts")
    parent = tracker.start_parent("s", tmp_path / "s.yaml", None)
    tracker.end_parent(parent, "KILLED")
    assert _tags(uri, parent) == ("KILLED", "interrupted")
    assert tracker.start_parent("s", tmp_path / "s.yaml", parent) == parent
    assert _tags(uri, parent) == ("RUNNING", "running")
    tracker.end_parent(parent, "FINISHED")
    assert _tags(uri, parent) == ("FINISHED", "finished")


def test_gc_leaves_a_sweep_whose_run_dir_is_not_on_this_machine(tmp_path: Path) -> None:
    """Found only through its sweep run: its lock file is elsewhere, so --gc closes nothing."""
    from mlflow.tracking import MlflowClient

    home = tmp_path / "home"
    home.mkdir()
    uri = sqlite_uri(home / "mlflow.db")
    away = Path("/nonexistent-s3delta") / "far"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("state-tags")
    tags = {"s3delta.kind": "sweep", "s3delta.sweep": "far", "s3delta.run_dir": str(away)}
    run_id = client.create_run(experiment_id, run_name="far", tags=tags).info.run_id
    assert _rows(home)["far"][1:4] == ["orphaned", "RUNNING", "1"]
    out = subprocess.run(
        [str(VENV_BIN / "s3delta"), "runs", "--gc"],
        env=service_env(S3DELTA_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"gc far: left alone; its run dir {away} is not here" in out.stdout, out.stdout
    assert client.get_run(run_id).info.status == "RUNNING" and not away.exists()


def test_a_sweep_whose_mlflow_server_is_away_is_listed_unreachable(tmp_path: Path) -> None:
    from test_run_support import free_port

    home = tmp_path / "home"
    away = f"mlflow:\n  tracking_uri: http://127.0.0.1:{free_port()}\n  experiment: x\n"
    _run_dir(home / "away", "away", away)
    _run_dir(home / "here", "here")
    out = subprocess.run(
        [str(VENV_BIN / "s3delta"), "runs"],
        env=service_env(S3DELTA_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:3]}
    assert rows["away"][1] == "unreachable" and rows["here"][1:3] == ["not", "started"], out.stdout
    assert "away: its stores cannot be read: " in out.stdout, out.stdout
