"""Issue 23, fault 1: never two drivers, even across a PostgreSQL restart.

A PostgreSQL restart ends the session holding the sweep's advisory lock. The driver's
heartbeat notices, takes the lock again when no other driver was admitted meanwhile
(same epoch), and otherwise stops at once with one line and exit 3, writing nothing
more. Trial folders carry a lease fenced by the epoch. Tests on a PostgreSQL server of
the test's own (`own_postgres.py`), restarted or cut under a running holder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from own_postgres import OwnPostgres, own_postgres
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

from orchestrator.runner import fence
from orchestrator.runner.db_lock import SWEEP_CLASS, sweep_db_guard, sweep_key
from orchestrator.runner.fence import DriverLostError, Fence

EXPERIMENT = "e2e-one-driver"


# -- leases, no database -------------------------------------------------------------------------
def test_a_trial_folder_lease_fences_off_an_older_driver(tmp_path: Path) -> None:
    folder = tmp_path / "trials" / "t"
    old, new = Fence("s", 1, "db"), Fence("s", 2, "db")
    with fence.holding(old):
        old_token = fence.take_lease(folder, "k")
        assert fence.lease_holds(folder, old_token)
    with fence.holding(new):  # a newer driver takes the folder over
        new_token = fence.take_lease(folder, "k")
    assert not fence.lease_holds(folder, old_token) and fence.lease_holds(folder, new_token)
    assert json.loads((folder / "lease.json").read_text())["epoch"] == 2
    with fence.holding(old):
        with pytest.raises(DriverLostError, match="held by a newer driver"):
            fence.take_lease(folder, "k")  # the stale driver cannot take it back
        assert fence.is_lost()
    stale = Fence("s", 1, "db")  # the old driver, before it noticed: may not record the trial
    with fence.holding(stale), pytest.raises(DriverLostError, match="taken over by another"):
        fence.check_trial(folder, "k")
    with fence.holding(Fence("s", 1, "file")):  # another scope's epochs are not compared
        assert fence.take_lease(folder, "k")


def test_a_stale_trial_process_stops_at_its_next_progress_report(tmp_path: Path) -> None:
    from orchestrator.runner.executor import HubReporter, TrialSuperseded

    folder = tmp_path / "t"
    with fence.holding(Fence("s", 1, "file")):
        token = fence.take_lease(folder, "k")
    reporter = HubReporter(None, "k", str(folder), token)

    class Event:
        phase, step, total_steps, metrics = "retrain", 1, 10, {"loss": 1.0}

    reporter(Event())  # its own lease: goes on
    with fence.holding(Fence("s", 2, "file")):
        fence.take_lease(folder, "k")
    with pytest.raises(TrialSuperseded, match="newer driver"):
        reporter(Event())


# -- the lock's heartbeat on a server of our own ----------------------------------------------------
@pytest.fixture
def pg() -> OwnPostgres:
    with own_postgres() as server:
        yield server


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


def _cut_and_admit_another(pg: OwnPostgres, sweep: str, bump_epoch: bool) -> None:
    """End the holder's session and, before its heartbeat comes, take the lock ourselves
    (bump_epoch: as a driver admitted meanwhile, then let it go again)."""
    from sqlalchemy import create_engine, text

    from orchestrator.runner.db_heartbeat import next_db_epoch

    engine = create_engine(pg.url, isolation_level="AUTOCOMMIT")
    conn = engine.connect()
    conn.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 's3delta|%' AND pid <> pg_backend_pid()"
        )
    )
    _wait(
        lambda: conn.execute(
            text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": SWEEP_CLASS, "k": sweep_key(sweep)}
        ).scalar(),
        5,
        "could not take the lock",
    )
    if bump_epoch:
        next_db_epoch(conn, sweep, "another driver")
        conn.close()  # releases the lock: the old holder could take it, but not its epoch
        engine.dispose()
    else:
        pg.held = (conn, engine)  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_the_lock_is_taken_again_after_a_restart_or_lost_for_good(
    pg: OwnPostgres, capfd: pytest.CaptureFixture[str]
) -> None:
    with sweep_db_guard("sqlite:///unused.db", pg.url, "sw"):
        held = fence.current()
        assert held is not None and held.epoch == 1 and held.scope == "db"
        pg.restart()  # every session ends, the advisory lock with it
        _wait(lambda: "taken again" in capfd.readouterr().err, 30, "lock not taken again")
        held.check()  # nobody else was admitted: the driver goes on
        # now another driver is admitted while the lock is away: the epoch moves on
        _cut_and_admit_another(pg, "sw", bump_epoch=True)
        _wait(lambda: held.lost, 30, "loss not noticed")
        with pytest.raises(DriverLostError, match="another driver was admitted") as lost:
            fence.check()
        assert lost.value.exit_code == 3 and "\n" not in str(lost.value)
    with sweep_db_guard("sqlite:///unused.db", pg.url, "sw"):  # the next driver: epoch 3
        assert fence.current().epoch == 3  # type: ignore[union-attr]


# -- a real driver under a restart ------------------------------------------------------------------
def _sweep(tmp_path: Path, model: Path, pg: OwnPostgres, name: str):
    home = tmp_path / "home"
    home.mkdir()
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    path = render_sweep(
        "tiny_tuned.yaml",
        tmp_path,
        name=name,
        model=model,
        data=SHARED_DATA,
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=60,
        trials=3,
        storage=f'"{pg.url}"',
    )
    env = service_env(S3DELTA_HOME=str(home))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    return path, tracking_uri, env


def _cli(args: list[str], env: dict[str, str], log: Path, timeout_s: float = 400) -> int:
    proc = start_cli(args, env, log)
    try:
        return proc.wait(timeout=timeout_s)
    finally:
        stop_session(proc, grace_s=5)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_postgres_restart_under_a_driver_never_admits_a_second_one(
    tmp_path: Path, tiny_bert_dir: Path, pg: OwnPostgres
) -> None:
    from mlflow.tracking import MlflowClient

    name = "restarted"
    sweep, tracking_uri, env = _sweep(tmp_path, tiny_bert_dir, pg, name)
    run_dir = tmp_path / "home" / name
    log = tmp_path / "a.log"
    driver = start_cli(["run", str(sweep)], env, log)
    try:
        _wait(lambda: list(run_dir.glob("trials/*/lease.json")), 300, "no trial started")
        pg.restart()
        _wait(lambda: "taken again" in log.read_text(), 60, "lock not taken again")
        # a second driver with its own run dir, as on another machine: refused
        other = ["run", str(sweep), "--resume", "--run-dir", str(tmp_path / "b")]
        assert _cli(other, env, tmp_path / "b.log") == 2
        refusal = (tmp_path / "b.log").read_text().strip().splitlines()
        assert f"already being run by pid {driver.pid}" in refusal[-1], refusal
        assert driver.poll() is None, log.read_text()[-3000:]

        # the lock is cut and someone else holds it: the driver stops at once, in one line
        _cut_and_admit_another(pg, name, bump_epoch=False)
        assert driver.wait(timeout=60) == 3, log.read_text()[-3000:]
    finally:
        stop_session(driver, grace_s=5)
        held = getattr(pg, "held", None)
        if held:
            held[0].close()
            held[1].dispose()
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    last = text.strip().splitlines()[-1]
    assert "this driver lost its lock" in last and "now held by" in last, last
    # it wrote nothing after the loss: its sweep run is still open, nothing closed
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (parent,) = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`s3delta.kind` = 'sweep'"
    )
    assert parent.info.status == "RUNNING"

    assert _cli(["run", str(sweep), "--resume"], env, tmp_path / "resume.log") == 0, (
        tmp_path / "resume.log"
    ).read_text()[-3000:]
    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    keys = expected_keys(name, ["random"], ["1%"], seeds=[1], tune_trials=3)
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    # trials ran under the first driver (epoch 1) or the resumed one (2): the refused
    # driver was never admitted, and the final seed ran after the resume
    leases = {
        lease["key"]: lease["epoch"]
        for lease in (json.loads(p.read_text()) for p in run_dir.glob("trials/*/lease.json"))
    }
    assert set(leases) == keys and set(leases.values()) <= {1, 2}
    assert leases[f"{name}|glue/sst2|random|1%|final|seed=1"] == 2
    assert os.path.exists(run_dir / "driver.epoch")
