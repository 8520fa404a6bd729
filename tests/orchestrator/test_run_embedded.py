"""`s3delta run` on embedded Ray: a killed trial worker is retried, `--resume` repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

pytestmark = pytest.mark.e2e
EXPERIMENT = "e2e-embedded"


def _sweep(tmp_path: Path, model: Path, name: str, steps: int) -> tuple[Path, str, dict[str, str]]:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_one_budget.yaml",
        tmp_path,
        name=name,
        model=model,
        data=SHARED_DATA,
        storage=None,
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=steps,
        methods="[s3delta, random]",
    )
    return sweep, tracking_uri, service_env(S3DELTA_HOME=str(tmp_path / "home"))


def _attempts(folder: Path) -> list[dict[str, float]]:
    path = folder / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate, timeout_s: float, what: str, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"{what} after {timeout_s}s; log:\n{log.read_text()[-4000:]}")


@pytest.mark.heavy
def test_killed_worker_is_retried_and_recorded_once(tmp_path: Path, tiny_bert_dir: Path) -> None:
    name = "e2e-kill"
    sweep, tracking_uri, env = _sweep(tmp_path, tiny_bert_dir, name, steps=60)
    trials = tmp_path / "home" / name / "trials"
    log = tmp_path / "run.log"
    proc = start_cli(["run", str(sweep)], env, log)
    try:
        # the first trial to write a checkpoint: kill its worker process mid-run
        def checkpointed() -> Path | None:
            for folder in sorted(trials.glob("*")) if trials.exists() else []:
                if any((folder / "checkpoints").glob("*")) and _attempts(folder):
                    return folder
            return None

        victim = _wait_for(checkpointed, 240, "no trial wrote a checkpoint", log)
        os.kill(int(_attempts(victim)[0]["pid"]), signal.SIGKILL)
        assert proc.wait(timeout=420) == 0, log.read_text()[-5000:]
    finally:
        stop_session(proc, grace_s=5)

    assert len(_attempts(victim)) == 2  # Ray ran it again after the worker died
    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    keys = expected_keys(name, ["s3delta", "random"], ["1%"], seeds=[1, 2])
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    assert len(runs) == len(keys)
    retried = [r for r in runs if r.data.tags["s3delta.attempts"] == "2"]
    assert [r.data.tags["s3delta.local.output_dir"] for r in retried] == [str(victim)]
    _check_live_layout(tracking_uri, tmp_path / "home" / name / "optuna.db", runs)


def _check_live_layout(tracking_uri: str, optuna_db: Path, runs: list) -> None:
    """Trials ran under one cell run per cell, their runs were open while they ran, and
    each tuning trial's Optuna record names its MLflow run."""
    import optuna
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    cells = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(cells) == 2  # s3delta 1%, random 1%
    for cell in cells:
        run = client.get_run(cell)
        assert run.data.tags["s3delta.kind"] == "cell" and run.info.status == "FINISHED"
        assert "test_score_mean" in run.data.metrics and "best_dev_score" in run.data.metrics
    for run in runs:  # step metrics were logged while the run was open
        assert run.info.end_time > run.info.start_time
        assert any(k.startswith(("search/", "retrain/")) for k in run.data.metrics)
        assert "output_dir" not in run.data.params
    by_id = {r.info.run_id: r for r in runs}
    for summary in optuna.get_all_study_summaries(f"sqlite:///{optuna_db}"):
        study = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{optuna_db}")
        for trial in study.trials:
            run = by_id[trial.user_attrs["mlflow_run_id"]]
            assert run.data.tags["s3delta.optuna_trial"] == str(trial.number)


@pytest.mark.slow  # ~90 s; the resume rules themselves are unit-tested in test_run_units
def test_resume_does_not_repeat_finished_trials(tmp_path: Path, tiny_bert_dir: Path) -> None:
    name = "e2e-resume"
    sweep, tracking_uri, env = _sweep(tmp_path, tiny_bert_dir, name, steps=20)
    trials = tmp_path / "home" / name / "trials"
    log = tmp_path / "run1.log"
    proc = start_cli(["run", str(sweep)], env, log)
    try:
        # the driver writes plan.json after creating the MLflow store: polling before
        # would race it creating the same SQLite tables
        _wait_for(lambda: (trials.parent / "plan.json").exists(), 120, "no plan.json", log)
        _wait_for(
            lambda: len(finished_by_key(trial_runs(tracking_uri, EXPERIMENT, name))) >= 2,
            300,
            "no two finished trials",
            log,
        )
    finally:
        stop_session(proc, grace_s=5)  # the driver and its embedded Ray die mid-sweep
    done_before = set(finished_by_key(trial_runs(tracking_uri, EXPERIMENT, name)))
    keys = expected_keys(name, ["s3delta", "random"], ["1%"], seeds=[1, 2])
    assert 2 <= len(done_before) < len(keys)
    attempts_before = {f.name: len(_attempts(f)) for f in trials.iterdir()}

    again = run_cli(["run", str(sweep)], env, tmp_path / "rerun.log", timeout_s=60)
    assert again == 2 and "--resume" in (tmp_path / "rerun.log").read_text()

    resumed = run_cli(["run", str(sweep), "--resume"], env, tmp_path / "run2.log", timeout_s=420)
    assert resumed == 0, (tmp_path / "run2.log").read_text()[-5000:]
    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    # runs the killed driver left RUNNING were closed and reused: one run per key, none open
    assert len(runs) == len(keys) and {r.info.status for r in runs} == {"FINISHED"}
    by_key = {r.data.tags["s3delta.key"]: r for r in runs}
    for key in done_before:  # finished before the interruption: not started again
        folder = Path(by_key[key].data.tags["s3delta.local.output_dir"])
        assert len(_attempts(folder)) == attempts_before[folder.name] == 1
    assert f"{len(done_before)} already done before resume" in (tmp_path / "run2.log").read_text()
