"""Nothing is left behind: a driver stopped by a signal ends Ray and closes its records, a
driver killed with SIGKILL leaves no Ray process and `s3delta runs --gc` closes what it
left open, `--resume` then continues exactly; the embedded Ray listens on loopback only;
a cluster that cannot give the trial shape is refused before any file or store."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    VENV_BIN,
    expected_keys,
    finished_by_key,
    render_sweep,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

from orchestrator.runner.orphans import optuna_orphans, reopen_interrupted
from orchestrator.runner.stop import DriverStopped, stop_on_signals

EXPERIMENT = "e2e-cleanup"


# -- signals, in this process ---------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_becomes_driver_stopped_and_handlers_are_restored(sig: int) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(DriverStopped) as caught, stop_on_signals():
        os.kill(os.getpid(), sig)
        time.sleep(5)  # interrupted by the handler
    assert caught.value.signum == sig and caught.value.exit_code == 128 + sig
    assert signal.getsignal(sig) is before


def test_a_signal_that_ray_turned_into_keyboardinterrupt_is_named_again() -> None:
    """ray.wait/ray.get re-raise any exception from a signal handler as KeyboardInterrupt."""
    with pytest.raises(DriverStopped) as caught, stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except DriverStopped:
            raise KeyboardInterrupt from None  # what Ray's check_signals does
    assert caught.value.signum == signal.SIGTERM


# -- closing and reopening Optuna trials ------------------------------------------------------
def test_an_interrupted_trial_is_closed_then_reopened_under_its_number(tmp_path: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    from orchestrator.runner.study import CONFIG_ATTR, make_storage, trial_for

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s/t/m/b", storage=make_storage(url))
    done = study.ask()
    study.tell(done, 0.5)
    running = study.ask()
    running.set_user_attr(CONFIG_ATTR, {"seed": 1})
    asked_only = study.ask()  # asked but never configured: nothing ran

    lines = optuna_orphans(url, ["s/t/m/b", "absent"], close=True)
    assert lines == [
        f"Optuna s/t/m/b trial {running.number}: RUNNING -> FAIL (interrupted)",
        f"Optuna s/t/m/b trial {asked_only.number}: RUNNING -> FAIL (interrupted)",
    ]
    states = {
        t.number: t.state for t in optuna.load_study(study_name="s/t/m/b", storage=url).trials
    }
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAIL, 2: TrialState.FAIL}

    assert reopen_interrupted(url, ["s/t/m/b"]) == 1
    again = optuna.load_study(study_name="s/t/m/b", storage=make_storage(url))
    frozen = {t.number: t for t in again.trials}
    assert frozen[1].state == TrialState.RUNNING and frozen[2].state == TrialState.FAIL
    again.tell(trial_for(again, frozen[1]), 0.7)  # the driver finishes it under its number
    assert [t.value for t in again.trials if t.state == TrialState.COMPLETE] == [0.5, 0.7]
    assert reopen_interrupted(url, ["s/t/m/b"]) == 0


# -- the embedded Ray's sockets ----------------------------------------------------------------
LISTENERS = """
import json, os, psutil
from orchestrator.runner.cluster import connect_ray, disconnect_ray
connection = connect_ray(None)
import ray
@ray.remote
def touch():
    return os.getpid()
ray.get(touch.remote())  # a worker runs, and listens
me = psutil.Process()
found = []
for proc in [me, *me.children(recursive=True)]:
    try:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN or (conn.type == 2 and not conn.raddr):
                found.append([proc.pid, proc.name(), conn.laddr.ip, conn.laddr.port])
    except psutil.Error:
        pass
print(json.dumps(found), flush=True)
disconnect_ray(connection)
"""


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@pytest.mark.e2e
def test_the_embedded_ray_listens_on_loopback_only() -> None:
    env = service_env()
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # no help from outside: s3delta's own
    out = subprocess.run(
        [sys.executable, "-c", LISTENERS], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sockets = json.loads(out.stdout.strip().splitlines()[-1])
    names = {name for _, name, _, _ in sockets}
    assert len(sockets) >= 6 and {"gcs_server", "raylet"} <= names, sockets
    outside = [s for s in sockets if not _loopback(s[2])]
    assert not outside, f"listening beyond loopback: {outside}"


# -- a real driver stopped or killed mid-sweep -------------------------------------------------
def _sweep(tmp_path: Path, model: Path, name: str) -> tuple[Path, str, dict[str, str]]:
    tracking_uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_one_budget.yaml",
        tmp_path,
        name=name,
        model=model,
        data=SHARED_DATA,
        storage=None,
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=40,
        methods="[random]",
    )
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    return sweep, tracking_uri, env


def _wait_for(predicate, timeout_s: float, what: str, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"{what} after {timeout_s}s; log:\n{log.read_text()[-4000:]}")


def _trial_started(run_dir: Path):
    return list((run_dir / "trials").glob("*/attempts.jsonl")) if run_dir.exists() else []


def _session_left(sid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "-s", str(sid)], capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _open_records(tracking_uri: str, name: str, run_dir: Path) -> tuple[list[str], list[str]]:
    from orchestrator.runner.orphans import mlflow_orphans

    studies = [f"{name}/glue/sst2/random/1%"]
    return (
        mlflow_orphans(tracking_uri, name, close=False),
        optuna_orphans(f"sqlite:///{run_dir / 'optuna.db'}", studies, close=False),
    )


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "s3delta"), *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_sigterm_stops_the_driver_and_everything_it_started(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    name = "stopped"
    sweep, tracking_uri, env = _sweep(tmp_path, tiny_bert_dir, name)
    run_dir = tmp_path / "elsewhere" / name  # outside the home: `runs` finds it in MLflow
    log = tmp_path / "driver.log"
    proc = start_cli(["run", str(sweep), "--run-dir", str(run_dir)], env, log)
    try:
        _wait_for(lambda: _trial_started(run_dir), 300, "no trial started", log)
        time.sleep(2)
        os.kill(proc.pid, signal.SIGTERM)  # the driver only, as `kill PID` would
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()[-3000:]
        _wait_for(lambda: not _session_left(proc.pid), 30, "processes left", log)
    finally:
        stop_session(proc, grace_s=5)
    text = log.read_text()
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert "stopped by SIGTERM" in last and "--resume" in last, last
    runs, trials = _open_records(tracking_uri, name, run_dir)
    assert runs == [] and trials == []
    import optuna

    (trial,) = optuna.load_study(
        study_name=f"{name}/glue/sst2/random/1%", storage=f"sqlite:///{run_dir / 'optuna.db'}"
    ).trials
    assert trial.state.name == "FAIL" and trial.user_attrs["s3delta.interrupted"] is True
    # the sweep run KILLED and its cell FAILED, both tagged interrupted (docs/cluster.md)
    states = _states(tracking_uri, name)
    assert states["sweep"] == [("KILLED", "interrupted")], states
    assert states["cell"] == [("FAILED", "interrupted")], states
    assert ("FAILED", "interrupted") in states["trial"], states
    # `runs` without the sweep file finds it through its sweep run, run dir and all
    row = next(line for line in _cli(["runs"], env).stdout.splitlines() if line.startswith(name))
    assert row.split()[1:4] == ["stopped", "KILLED", "0"] and row.split()[-1] == str(run_dir), row

    resumed = _cli(["run", str(sweep), "--run-dir", str(run_dir), "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    states = _states(tracking_uri, name)  # finished now: no stale interrupted tag
    assert states["sweep"] == [("FINISHED", "finished")], states
    assert states["cell"] == [("FINISHED", "finished")], states
    assert set(states["trial"]) == {("FINISHED", "ok")}, states
    keys = expected_keys(name, ["random"], ["1%"], seeds=[1, 2])
    assert len(states["trial"]) == len(keys)  # the interrupted run was reused
    row = next(line for line in _cli(["runs"], env).stdout.splitlines() if line.startswith(name))
    assert row.split()[1:4] == ["finished", "FINISHED", "0"], row


def _states(tracking_uri: str, name: str) -> dict[str, list[tuple[str, str]]]:
    """Per kind (sweep, cell, trial), each run's status and `s3delta.state`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    found: dict[str, list[tuple[str, str]]] = {"sweep": [], "cell": [], "trial": []}
    for run in client.search_runs(
        [experiment.experiment_id], f"tags.`s3delta.sweep` = '{name}'", max_results=1000
    ):
        kind = run.data.tags.get("s3delta.kind", "")
        found.setdefault(kind, []).append((run.info.status, run.data.tags.get("s3delta.state", "")))
    return found


@pytest.mark.slow
@pytest.mark.e2e
def test_a_driver_killed_with_sigkill_leaves_no_process_and_gc_closes_its_records(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    import psutil

    name = "killed"
    sweep, tracking_uri, env = _sweep(tmp_path, tiny_bert_dir, name)
    run_dir = tmp_path / "home" / name
    log = tmp_path / "driver.log"
    proc = start_cli(["run", str(sweep)], env, log)
    try:
        _wait_for(lambda: (run_dir / "plan.json").exists(), 300, "no plan.json", log)
        live = _cli(["runs", "--gc"], env)  # a live driver's records are not orphans
        row = next(line for line in live.stdout.splitlines() if line.startswith(name))
        assert row.split()[1] == "running" and f"pid {proc.pid} on " in row, live.stdout
        assert f"gc {name}: left alone, its driver runs" in live.stdout
        _wait_for(lambda: _trial_started(run_dir), 300, "no trial started", log)
        time.sleep(2)
        family = psutil.Process(proc.pid).children(recursive=True)
        watchdogs = [p for p in family if any("reaper.py" in a for a in p.cmdline())]
        assert len(watchdogs) == 1 and len(family) >= 6, [p.cmdline()[:2] for p in family]
        assert len(_session_left(proc.pid)) >= 5  # driver, GCS, raylet, agents, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # Ray's agents outlived a killed driver before; the watchdog ends them
        _wait_for(lambda: not _session_left(proc.pid), 30, "Ray processes left", log)
        _wait_for(lambda: not watchdogs[0].is_running(), 30, "watchdog still running", log)
    finally:
        stop_session(proc, grace_s=5)

    runs, trials = _open_records(tracking_uri, name, run_dir)
    interrupted = sum(line.startswith("MLflow trial run") for line in runs)
    # the sweep, its cell, the trials in flight: the tuning trial, or (when it ended
    # before the kill, as on a loaded machine) one or both final seeds
    assert interrupted in (1, 2) and len(runs) == 2 + interrupted, runs
    assert len(trials) <= 1  # the tuning trial, when the kill came while tuning
    listed = _cli(["runs"], env)
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert row.split()[1] == "orphaned", listed.stdout

    gc = _cli(["runs", "--gc"], env)
    assert gc.returncode == 0, gc.stderr
    changes = [line for line in gc.stdout.splitlines() if line.startswith(f"gc {name}: ")]
    assert len(changes) == len(runs) + len(trials), gc.stdout
    assert any("sweep run" in c and "RUNNING -> KILLED" in c for c in changes)
    assert sum("RUNNING -> FAILED" in c for c in changes) == 1 + interrupted
    if trials:
        assert any("trial 0: RUNNING -> FAIL (interrupted)" in c for c in changes)
    assert _open_records(tracking_uri, name, run_dir) == ([], [])
    row = next(line for line in _cli(["runs"], env).stdout.splitlines() if line.startswith(name))
    assert row.split()[1:4] == ["stopped", "KILLED", "0"], row
    states = _states(tracking_uri, name)
    assert states["sweep"] == [("KILLED", "interrupted")], states
    assert states["cell"] == [("FAILED", "interrupted")], states

    resumed = _cli(["run", str(sweep), "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    states = _states(tracking_uri, name)  # what --gc tagged interrupted is finished now
    assert states["sweep"] == [("FINISHED", "finished")], states
    assert states["cell"] == [("FINISHED", "finished")], states
    assert set(states["trial"]) == {("FINISHED", "ok")}, states
    runs_after = trial_runs(tracking_uri, EXPERIMENT, name)
    keys = expected_keys(name, ["random"], ["1%"], seeds=[1, 2])
    assert finished_by_key(runs_after) == dict.fromkeys(keys, 1)
    assert len(runs_after) == len(keys)  # the interrupted run was reused, not duplicated
    import optuna

    (trial,) = optuna.load_study(
        study_name=f"{name}/glue/sst2/random/1%", storage=f"sqlite:///{run_dir / 'optuna.db'}"
    ).trials
    assert trial.number == 0 and trial.state.name == "COMPLETE"
    attempts = [
        len(f.read_text().splitlines()) for f in (run_dir / "trials").glob("*/attempts.jsonl")
    ]
    # each interrupted trial rerun in its own folder
    assert len(attempts) == len(keys) and sum(attempts) == len(keys) + interrupted


def test_an_address_where_no_ray_head_answers_is_refused_at_once(tmp_path: Path) -> None:
    from test_run_support import free_port

    home = tmp_path / "home"
    sweep = render_sweep(
        "tiny_one_budget.yaml",
        tmp_path,
        name="nowhere",
        model="sentence-transformers/all-MiniLM-L6-v2",
        data=SHARED_DATA,
        storage=None,
        mlflow=None,
        experiment=EXPERIMENT,
        steps=5,
        methods="[random]",
    )
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    out = _cli(["run", str(sweep), "--address", address], service_env(S3DELTA_HOME=str(home)))
    assert time.monotonic() - started < 60  # Ray alone retries for minutes
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{address}: no Ray head answers there" in lines[0], out.stderr
    assert not home.exists()


def test_runs_on_a_home_without_sweeps_creates_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app

    home = tmp_path / "home"
    home.mkdir()
    result = CliRunner().invoke(app, ["runs", "--gc", "--home", str(home)])
    assert result.exit_code == 0 and "no sweeps found" in result.output
    assert list(home.iterdir()) == []
