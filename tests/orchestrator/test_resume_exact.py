"""Issue 23, fault 2: a resumed sweep asks exactly the trials an uninterrupted one asks.

The per-cell sampler draws trial N from (cell seed, N), so rebuilding it on `--resume`
does not restart its random state (before, the first trial asked after a resume repeated
trial 0's parameters). In this process for each sampler kind, and with real drivers: an
8-trial sweep run straight through against the same sweep killed part-way and resumed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from test_run_support import (
    SHARED_DATA,
    finished_by_key,
    render_sweep,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

EXPERIMENT = "e2e-resume-exact"
NAME = "exact"
STUDY = f"{NAME}/glue/sst2/random/1%"


def _ask_all(url: str, kind: str, n: int, restart_at: int | None) -> list[tuple[int, Any]]:
    import optuna

    from orchestrator.runner.study import make_sampler, make_storage

    def open_study() -> optuna.Study:
        return optuna.create_study(
            study_name="cell",
            storage=make_storage(url),
            sampler=make_sampler(kind, 7),
            load_if_exists=True,
        )

    study, asked = open_study(), []
    for i in range(n):
        if i == restart_at:  # a driver restarted: a new sampler from the same seed
            study = open_study()
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        k = trial.suggest_int("k", 1, 8)
        study.tell(trial, (lr * 1000) % 3 + k)
        asked.append((trial.number, (lr, k)))
    return asked


@pytest.mark.parametrize("kind", ["tpe", "random", "nsga2"])
def test_a_restarted_sampler_asks_what_an_uninterrupted_one_asks(tmp_path: Path, kind: str) -> None:
    # 14 trials: past TPE's 10 random start-up trials, so its model-based asks count too
    straight = _ask_all(f"sqlite:///{tmp_path / 'a.db'}", kind, 14, None)
    for restart in (1, 3, 11):
        resumed = _ask_all(f"sqlite:///{tmp_path / f'r{restart}.db'}", kind, 14, restart)
        assert resumed == straight, (kind, restart)
    assert len({params for _, params in straight}) == 14  # no trial repeats another


def test_trial_seeds_are_stable_and_distinct() -> None:
    from orchestrator.runner.trial_sampler import trial_seed

    seeds = [trial_seed(12345, n) for n in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert trial_seed(12345, 3) == seeds[3] and trial_seed(12346, 3) != seeds[3]


# -- real drivers ------------------------------------------------------------------------------
def _sweep(tmp_path: Path, model: Path, home: Path) -> tuple[Path, str, dict[str, str]]:
    home.mkdir(parents=True)
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_tuned.yaml",
        home,
        name=NAME,
        model=model,
        data=SHARED_DATA,
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=20,
        trials=8,
        storage=None,
    )
    env = service_env(S3DELTA_HOME=str(home))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    return sweep, tracking_uri, env


def _run(args: list[str], env: dict[str, str], log: Path, timeout_s: float = 600) -> int:
    proc = start_cli(args, env, log)
    try:
        return proc.wait(timeout=timeout_s)
    finally:
        stop_session(proc, grace_s=5)


def _trials(run_dir: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{run_dir / 'optuna.db'}")
    return {t.number: (t.state.name, t.params) for t in study.trials}


def _run_params(tracking_uri: str) -> dict[str, dict[str, str]]:
    runs = trial_runs(tracking_uri, EXPERIMENT, NAME)
    keep = ("delta_lr", "weight_decay", "seed")
    return {
        r.data.tags["s3delta.key"]: {k: v for k, v in r.data.params.items() if k in keep}
        for r in runs
        if r.info.status == "FINISHED"
    }


def _finished_tune_trials(run_dir: Path) -> int:
    db = run_dir / "optuna.db"
    if not db.exists():
        return 0
    try:
        return sum(state == "COMPLETE" for state, _ in _trials(run_dir).values())
    except Exception:  # the study is not created yet, or the file is being written
        return 0


@pytest.mark.slow
@pytest.mark.e2e
def test_a_killed_and_resumed_sweep_runs_the_trials_of_an_uninterrupted_one(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    sweep, straight_uri, env = _sweep(tmp_path, tiny_bert_dir, tmp_path / "straight")
    assert _run(["run", str(sweep)], env, tmp_path / "straight.log") == 0
    straight = _trials(tmp_path / "straight" / NAME)
    assert len(straight) == 8 and {s for s, _ in straight.values()} == {"COMPLETE"}

    sweep, resumed_uri, env = _sweep(tmp_path, tiny_bert_dir, tmp_path / "resumed")
    run_dir = tmp_path / "resumed" / NAME
    log = tmp_path / "killed.log"
    proc = start_cli(["run", str(sweep)], env, log)
    try:
        deadline = time.monotonic() + 400
        while _finished_tune_trials(run_dir) < 3:  # part-way through tuning
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup at all: the hardest resume
        proc.wait(timeout=30)
    finally:
        stop_session(proc, grace_s=5)
    before = _trials(run_dir)
    assert 3 <= len(before) < 8, before

    rc = _run(["run", str(sweep), "--resume"], env, tmp_path / "resume.log")
    assert rc == 0, (tmp_path / "resume.log").read_text()[-4000:]
    resumed = _trials(run_dir)
    assert resumed == straight  # every trial's number, state and parameters
    assert _run_params(resumed_uri) == _run_params(straight_uri)  # the final seed's too
    runs = trial_runs(resumed_uri, EXPERIMENT, NAME)
    assert set(finished_by_key(runs).values()) == {1} and len(finished_by_key(runs)) == 9
