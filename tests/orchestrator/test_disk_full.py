"""Issue 23, fault 4: a full disk ends the driver in one line, naming what is full and the
fix, with exit 4; after space is freed, `--resume` runs the sweep.

On small tmpfs mounts, filled to the last byte: the whole home (MLflow store and run
dir), then only the run dir, both full at start; then a run dir that fills up during the
sweep, once its first trial has finished. Skipped where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    render_sweep,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

from orchestrator.runner.env_faults import (
    disk_full_line,
    environment_fault,
    trial_found_disk_full,
)

EXPERIMENT = "e2e-disk-full"


# -- wording, in this process ---------------------------------------------------------------------
def test_a_full_disk_anywhere_in_the_chain_is_one_line_naming_the_place(tmp_path: Path) -> None:
    import sqlite3

    from sqlalchemy import exc

    places = {
        "run dir": (tmp_path / "run", "give another `--run-dir`"),
        "MLflow store": (tmp_path / "home", "set S3DELTA_HOME"),
    }
    (tmp_path / "run").mkdir()
    try:  # what Optuna raised: its own error, SQLite's below it
        try:
            raise exc.OperationalError(
                "INSERT", {}, sqlite3.OperationalError("database or disk is full")
            )
        except exc.OperationalError as inner:
            raise RuntimeError("invalid data in the commit, e.g. exceeding max length") from inner
    except RuntimeError as error:
        line = disk_full_line(error, places)
    assert line is not None and "\n" not in line
    assert line.startswith("no space left on the device of the ") and "free" in line
    named = OSError(28, "No space left on device", str(tmp_path / "run" / "trials" / "x"))
    line = disk_full_line(named, places)
    assert line is not None and f"run dir {tmp_path / 'run'}" in line and "--run-dir" in line
    fault = environment_fault(named, places)
    assert fault is not None and fault.exit_code == 4
    assert environment_fault(ValueError("a bug"), places) is None


def test_a_trial_that_found_the_disk_full_is_told_from_a_failed_trial(tmp_path: Path) -> None:
    ray_text = "RayTaskError(OSError): ray::trial() OSError: [Errno 28] No space left on device"
    assert trial_found_disk_full(ray_text, None)
    assert trial_found_disk_full("OSError: [Errno 28] something", str(tmp_path))
    assert not trial_found_disk_full("ValueError: a bug in the data", str(tmp_path))
    assert not trial_found_disk_full("ValueError: a bug in the data", None)


# -- real drivers on full disks -------------------------------------------------------------------
def _mount(tmp_path: Path, size: str) -> Iterator[Path]:
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path, "4m")


@pytest.fixture
def roomy_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """Room for a few trials' checkpoints, until it is filled."""
    yield from _mount(tmp_path, "64m")


def _fill(folder: Path) -> Path:
    """Write until the file system has no byte left (unbuffered, ever smaller writes)."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = 1 << 20
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return filler


def _run(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    proc = start_cli(args, env, log)
    try:
        rc = proc.wait(timeout=400)
    finally:
        stop_session(proc, grace_s=5)
    return rc, log.read_text()


def _sweep(
    tmp_path: Path,
    model: Path,
    name: str,
    tracking_uri: str,
    steps: int = 10,
    trials: int = 1,
    storage: str | None = None,
) -> Path:
    return render_sweep(
        "tiny_tuned.yaml",
        tmp_path,
        name=name,
        model=model,
        data=SHARED_DATA,
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=steps,
        trials=trials,
        storage=storage,
    )


def _one_line(text: str, where: str) -> str:
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if "no space left" in line.lower()]
    assert len(lines) == 1, text[-3000:]
    assert where in lines[0] and "--resume" in lines[0], lines[0]
    return lines[0]


@pytest.mark.slow
@pytest.mark.e2e
def test_a_full_home_ends_the_driver_in_one_line(
    tmp_path: Path, tiny_bert_dir: Path, tmpfs: Path
) -> None:
    home = tmpfs / "home"
    home.mkdir()
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    sweep = _sweep(tmp_path, tiny_bert_dir, "fullhome", tracking_uri)
    filler = _fill(tmpfs)
    env = service_env(S3DELTA_HOME=str(home))
    rc, text = _run(["run", str(sweep)], env, tmp_path / "full.log")
    assert rc == 4, text[-3000:]
    line = _one_line(text, f"MLflow store {home}")  # and the run dir in it
    assert "S3DELTA_HOME" in line, line

    filler.unlink()  # space freed: the documented recovery
    rc, text = _run(["run", str(sweep), "--resume"], env, tmp_path / "resume.log")
    assert rc == 0, text[-3000:]
    keys = expected_keys("fullhome", ["random"], ["1%"], seeds=[1], tune_trials=1)
    assert finished_by_key(trial_runs(tracking_uri, EXPERIMENT, "fullhome")) == dict.fromkeys(
        keys, 1
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_a_full_run_dir_ends_the_driver_in_one_line(
    tmp_path: Path, tiny_bert_dir: Path, tmpfs: Path
) -> None:
    home = tmp_path / "home"
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    sweep = _sweep(tmp_path, tiny_bert_dir, "fullrun", tracking_uri)
    run_dir = tmpfs / "run"
    filler = _fill(tmpfs)
    env = service_env(S3DELTA_HOME=str(home))
    args = ["run", str(sweep), "--run-dir", str(run_dir)]
    rc, text = _run(args, env, tmp_path / "full.log")
    assert rc == 4, text[-3000:]
    line = _one_line(text, f"run dir {run_dir}")
    assert "--run-dir" in line, line

    filler.unlink()
    rc, text = _run([*args, "--resume"], env, tmp_path / "resume.log")
    assert rc == 0, text[-3000:]
    keys = expected_keys("fullrun", ["random"], ["1%"], seeds=[1], tune_trials=1)
    assert finished_by_key(trial_runs(tracking_uri, EXPERIMENT, "fullrun")) == dict.fromkeys(
        keys, 1
    )


def _attempts(run_dir: Path) -> list[Path]:
    return list(run_dir.rglob("attempts.jsonl")) if run_dir.exists() else []


def _whole_files(folder: Path) -> None:
    """Nothing half-written: every JSON file parses, every JSONL line too."""
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())
    for path in folder.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_run_dir_that_fills_up_during_the_sweep_ends_the_driver_in_one_line(
    tmp_path: Path, tiny_bert_dir: Path, roomy_tmpfs: Path
) -> None:
    home = tmp_path / "home"
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    # the Optuna study off the full disk: only the trial (and the driver's trial folders)
    # can see it fill
    storage = f"sqlite:///{home / 'optuna.db'}"
    sweep = _sweep(tmp_path, tiny_bert_dir, "fillrun", tracking_uri, 60, 3, storage)
    run_dir = roomy_tmpfs / "run"
    env = service_env(S3DELTA_HOME=str(home))
    args = ["run", str(sweep), "--run-dir", str(run_dir)]
    log = tmp_path / "full.log"
    proc = start_cli(args, env, log)
    try:
        deadline = time.monotonic() + 300
        # the first trial has finished and the second has started: the trial, not the
        # driver, is the first to find the disk full
        while "tune trial 0:" not in log.read_text() or len(_attempts(run_dir)) < 2:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        filler = _fill(roomy_tmpfs)
        rc = proc.wait(timeout=300)
    finally:
        stop_session(proc, grace_s=5)
    text = log.read_text()
    assert rc == 4, text[-3000:]
    line = _one_line(text, f"run dir {run_dir}")
    assert "--run-dir" in line, line
    assert "tune trial 0: dev" in text, text[-3000:]
    assert "FAILED" not in text, text[-3000:]  # a machine fault, not a failed trial
    runs = trial_runs(tracking_uri, EXPERIMENT, "fillrun")
    # the trial cut short was closed as interrupted (a driver's fault), not a failed trial
    states = {r.data.tags["s3delta.key"]: r.data.tags.get("s3delta.state") for r in runs}
    assert sorted(states.values()) == ["interrupted", "ok"], states

    filler.unlink()  # space freed: the documented recovery
    _whole_files(run_dir)
    rc, text = _run([*args, "--resume"], env, tmp_path / "resume.log")
    assert rc == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    keys = expected_keys("fillrun", ["random"], ["1%"], seeds=[1], tune_trials=3)
    runs = trial_runs(tracking_uri, EXPERIMENT, "fillrun")
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    _whole_files(run_dir)
