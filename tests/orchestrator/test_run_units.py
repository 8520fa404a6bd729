"""The runner's parts without services: paths, settings precedence, keys, MLflow records
(on a real SQLite MLflow store), cell resume/pruning logic (on a real Optuna study)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from test_run_support import SHARED_DATA, log_trial, render_sweep, trial_result

from orchestrator import paths
from orchestrator.locations import with_installed_driver
from orchestrator.runner.cell import CellRunner, Job
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.outcome import RecordedTrial, TrialOutcome
from orchestrator.runner.progress import CellRow, ProgressView, SweepProgress
from orchestrator.runner.settings import resolve_settings
from orchestrator.runner.study import CONFIG_ATTR, make_pruner, make_storage, open_study
from orchestrator.runner.tracking import SweepTracker
from orchestrator.sweep import Cell, load_sweep
from workers.trial_types import TrialConfig, TrialResult


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (
        "S3DELTA_HOME",
        "MLFLOW_TRACKING_URI",
        "S3DELTA_OPTUNA_STORAGE",
        "RAY_ADDRESS",
        paths.RAY_JOB_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _sweep(tmp_path: Path, **values: Any):
    defaults = {
        "name": "unit",
        "model": "test/not-a-real-model",
        "data": SHARED_DATA,
        "storage": None,
        "mlflow": None,
        "experiment": "unit",
        "steps": 10,
        "methods": "[s3delta, random]",
    }
    return load_sweep(render_sweep("tiny_one_budget.yaml", tmp_path, **{**defaults, **values}))


# -- paths and settings ---------------------------------------------------------------------
def test_home_defaults_to_cwd_runs_and_to_home_dir_inside_a_job(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert paths.s3delta_home() == clean_env / "runs"
    monkeypatch.setenv(paths.RAY_JOB_ENV, "{}")
    assert paths.s3delta_home() == Path.home() / "s3delta-runs"
    monkeypatch.setenv("S3DELTA_HOME", str(clean_env / "h"))
    assert paths.s3delta_home() == clean_env / "h"


def test_relative_home_and_relative_sqlite_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3DELTA_HOME", "runs")
    with pytest.raises(paths.PathSettingError, match="S3DELTA_HOME='runs' is relative"):
        paths.s3delta_home()
    with pytest.raises(paths.PathSettingError, match=r"optuna\.storage.*four slashes"):
        paths.check_storage_url("sqlite:///optuna.db", "optuna.storage")
    with pytest.raises(paths.PathSettingError, match=r"is a plain path \(MLflow's file store\)"):
        paths.check_tracking_uri("./mlruns", "mlflow.tracking_uri")
    assert paths.redact_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_settings_defaults_then_env_then_yaml_then_option(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _sweep(clean_env)
    got = resolve_settings(sweep)
    assert got.run_dir == clean_env / "runs" / "unit"
    assert got.tracking_uri == f"sqlite:///{clean_env}/runs/mlflow.db"
    assert got.storage_url == f"sqlite:///{clean_env}/runs/unit/optuna.db"
    assert got.artifact_root == clean_env / "runs" / "mlartifacts"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    monkeypatch.setenv("S3DELTA_OPTUNA_STORAGE", "postgresql://env@h/db")
    got = resolve_settings(sweep)
    # postgresql:// gets the installed driver (orchestrator.locations.with_installed_driver)
    assert (got.tracking_uri, got.storage_url) == (
        "http://127.0.0.1:5999",
        with_installed_driver("postgresql://env@h/db"),
    )
    assert got.artifact_root is None

    yaml_sweep = _sweep(clean_env, storage="postgresql://yaml@h/db", mlflow="http://yaml:1")
    got = resolve_settings(yaml_sweep)
    assert (got.tracking_uri, got.storage_url) == (
        "http://yaml:1",
        with_installed_driver("postgresql://yaml@h/db"),
    )

    got = resolve_settings(
        yaml_sweep,
        run_dir="elsewhere",
        tracking_uri="http://opt:2",
        storage_url="postgresql://opt@h/db",
        address="10.0.0.1:6380",
    )
    assert got.run_dir == clean_env / "elsewhere"
    assert (got.tracking_uri, got.storage_url, got.address) == (
        "http://opt:2",
        with_installed_driver("postgresql://opt@h/db"),
        "10.0.0.1:6380",
    )


def test_paths_inside_the_job_copy_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _sweep(clean_env)
    monkeypatch.setenv(paths.RAY_JOB_ENV, "{}")
    monkeypatch.setenv("S3DELTA_HOME", str(clean_env / "inside"))  # cwd = the "job copy"
    with pytest.raises(paths.PathSettingError, match="temporary working-dir copy"):
        resolve_settings(sweep)
    with pytest.raises(paths.PathSettingError, match="relative inside a Ray job"):
        resolve_settings(sweep, run_dir="runs/x")


def test_trial_keys_are_stable_and_distinct() -> None:
    tune = TrialKey("s", "glue/sst2", "manual/lora-qv-r1", None, "tune", 3)
    final = TrialKey("s", "glue/sst2", "manual/lora-qv-r1", None, "final", 3)
    assert tune.text == "s|glue/sst2|manual/lora-qv-r1|none|tune|trial=3"
    assert final.text.endswith("|final|seed=3")
    assert tune.folder != final.folder and "/" not in tune.folder
    assert tune.tags()["s3delta.budget"] == "none"


# -- MLflow records ----------------------------------------------------------------------
def _result(tmp_path: Path, dev: float = 0.8) -> TrialResult:
    delta = tmp_path / "delta.safetensors"
    delta.write_bytes(b"weights")
    return trial_result(
        structure={"format": "s3delta.structure", "entries": [{"path": "p", "kind": "lora"}]},
        probabilities={"p:lora": 0.7},
        dev={"accuracy": dev},
        test={"accuracy": dev - 0.1},
        dev_score=dev,
        test_score=dev - 0.1,
        delta_params=100,
        head_params=66,
        backbone_params=10_000,
        budget_params=120,
        wall_time_s=3.0,
        split_sizes={"train": 64, "dev": 20, "test": 30},
        artifacts={"delta.safetensors": str(delta)},
    )


def test_child_runs_follow_the_layout_and_retried_steps_are_not_doubled(tmp_path: Path) -> None:
    tracker = SweepTracker(f"sqlite:///{tmp_path}/m.db", "unit", tmp_path / "art")
    sweep_yaml = tmp_path / "s.yaml"
    sweep_yaml.write_text("name: s\n")
    parent = tracker.start_parent("s", sweep_yaml, {"cells": []}, {"s3delta.run_dir": "x"})
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "final", 2)
    now = time.time()
    events = [  # the step-5 event arrives twice: once per attempt of a retried trial
        {"phase": "search", "step": 5, "metrics": {"expected_size": 150.0}, "time": now},
        {"phase": "search", "step": 5, "metrics": {"expected_size": 140.0}, "time": now + 1},
        {"phase": "retrain", "step": 5, "metrics": {"loss": 0.5, "dev_score": 0.7}, "time": now},
    ]
    run_id = log_trial(tracker,
        key,
        TrialConfig(seed=2, kind_lr={"lora": 2.0}),
        TrialOutcome.ok(_result(tmp_path)),
        events,
        attempts=2,
    )
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == parent
    assert (tags["s3delta.kind"], tags["s3delta.phase"], tags["s3delta.seed"]) == (
        "trial",
        "final",
        "2",
    )
    assert tags["s3delta.attempts"] == "2"
    assert run.data.params["kind_lr"] == '{"lora": 2.0}'
    assert run.data.metrics["budget_fraction"] == pytest.approx(0.01)
    assert run.data.metrics["test_accuracy"] == pytest.approx(0.7)
    assert (run.data.metrics["n_test"], run.data.metrics["n_dev"]) == (30, 20)
    history = tracker.client.get_metric_history(run_id, "search/expected_size")
    assert [(m.step, m.value) for m in history] == [(5, 140.0)]
    names = {a.path for a in tracker.client.list_artifacts(run_id)}
    assert names == {"structure.json", "probabilities.json", "delta.safetensors", "config.json"}
    parent_files = {a.path for a in tracker.client.list_artifacts(parent)}
    assert parent_files == {"sweep.yaml", "plan.json"}


def test_recorded_prefers_the_finished_run_of_a_key(tmp_path: Path) -> None:
    tracker = SweepTracker(f"sqlite:///{tmp_path}/m.db", "unit", tmp_path / "art")
    key = TrialKey("s", "glue/sst2", "random", "1%", "tune", 0)
    config = TrialConfig(seed=1)
    log_trial(tracker, key, config, TrialOutcome.failed("boom"), [], 1)
    log_trial(tracker, key, config, TrialOutcome.ok(_result(tmp_path, 0.6)), [], 1)
    pruned = TrialKey("s", "glue/sst2", "random", "1%", "tune", 1)
    log_trial(tracker, pruned, config, TrialOutcome.pruned("stopped"), [], 1)
    found = tracker.recorded("s")
    assert found[key.text].status == "FINISHED" and found[key.text].dev_score == 0.6
    assert found[pruned.text].status == "KILLED"


# -- cells: resume and pruning on a real Optuna study -------------------------------------
def _cell(study: optuna.Study, recorded: dict[str, RecordedTrial], n_tune: int = 2) -> CellRunner:
    return CellRunner(
        sweep_name="s",
        cell=Cell("glue/sst2", "random", "1%", n_tune, (1, 2), ("delta_lr",)),
        study=study,
        suggest=lambda trial: TrialConfig(
            delta_lr=trial.suggest_float("delta_lr", 1e-4, 1e-1, log=True)
        ),
        finalize=lambda cfg, key: cfg.model_copy(update={"output_dir": key.folder}),
        recorded=recorded,
        multi_objective=False,
    )


def _ok(dev_score: float) -> TrialOutcome:
    return TrialOutcome.ok(trial_result(dev_score=dev_score, delta_params=1))


def test_resume_reruns_unrecorded_trials_and_trusts_recorded_ones(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/o.db")
    study = open_study(
        name="s/c",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(0),
        pruner=make_pruner(False, 1, 2),
        multi_objective=False,
    )
    first = _cell(study, {})
    jobs = [first.next_job(), first.next_job()]  # the driver dies with both running
    assert all(j is not None for j in jobs) and first.next_job() is None
    recorded = {jobs[0].key.text: RecordedTrial("FINISHED", dev_score=0.9)}  # type: ignore[union-attr]

    study = open_study(
        name="s/c",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(0),
        pruner=make_pruner(False, 1, 2),
        multi_objective=False,
    )
    resumed = _cell(study, recorded)
    again = resumed.next_job()
    assert again is not None and again.key == jobs[1].key  # same number, key and folder
    assert again.config == jobs[1].config  # type: ignore[union-attr]
    assert resumed.next_job() is None  # tuning budget used; final waits for `again`
    resumed.complete(again, _ok(0.5))
    finals = [resumed.next_job(), resumed.next_job()]
    best_lr = study.trials[0].user_attrs[CONFIG_ATTR]["delta_lr"]  # trial 0 scored 0.9
    assert [j.config.seed for j in finals] == [1, 2]  # type: ignore[union-attr]
    assert all(j.config.delta_lr == best_lr for j in finals)  # type: ignore[union-attr]


def test_pruner_stops_a_trial_behind_the_others_at_the_same_step(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/o.db")
    study = open_study(
        name="s/p",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(0),
        pruner=make_pruner(True, 10, 2),
        multi_objective=False,
    )
    cell = _cell(study, {}, n_tune=3)

    def event(phase: str, step: int, score: float) -> dict[str, Any]:
        return {"phase": phase, "step": step, "total_steps": 20, "metrics": {"dev_score": score}}

    good = cell.next_job()
    assert good is not None
    assert not cell.report(good, event("search", 10, 0.9), prune_enabled=True)
    cell.complete(good, _ok(0.9))
    bad = cell.next_job()
    assert isinstance(bad, Job)
    assert cell.report(bad, event("search", 10, 0.1), prune_enabled=True)
    # the retrain phase continues the resource axis after the search steps
    assert bad.resource_step(event("retrain", 5, 0.0)) == bad.config.search_steps + 5


def test_a_dev_score_of_zero_is_a_score_not_a_failure(tmp_path: Path) -> None:
    """MCC 0 (a constant predictor on CoLA) is a result Optuna must compare, not NaN."""
    study = open_study(
        name="s/z",
        storage=make_storage(f"sqlite:///{tmp_path}/o.db"),
        sampler=optuna.samplers.RandomSampler(0),
        pruner=make_pruner(False, 1, 2),
        multi_objective=False,
    )
    cell = _cell(study, {}, n_tune=1)
    job = cell.next_job()
    assert job is not None
    cell.complete(job, _ok(0.0))
    assert (study.trials[0].state, study.trials[0].value) == (optuna.trial.TrialState.COMPLETE, 0.0)


def test_plain_progress_prints_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    cell = Cell("glue/sst2", "s3delta", "1%", 2, (1, 2, 3), ("delta_lr",))
    progress = SweepProgress([CellRow(cell)], concurrency=2)
    with ProgressView(progress, "demo", stream=out) as view:
        view.line("glue/sst2 s3delta 1% tune trial 0: dev 0.8000")
        progress.rows[0].tune_done = 1
        progress.durations.append(10.0)
    text = out.getvalue()
    assert "dev 0.8000" in text
    assert "[demo] 1/5 trials done, ETA 0m20s" in text


def test_a_cell_with_nothing_to_tune_runs_only_its_seeds(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path}/o.db")
    study = open_study(
        name="s/f",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(0),
        pruner=make_pruner(False, 1, 2),
        multi_objective=False,
    )
    cell = CellRunner(
        sweep_name="s",
        cell=Cell("glue/sst2", "manual/bitfit", None, 0, (3, 4), ()),
        study=study,
        suggest=lambda trial: TrialConfig(delta_lr=0.01, seed=1),
        finalize=lambda cfg, key: cfg.model_copy(update={"output_dir": key.folder}),
        recorded={},
        multi_objective=False,
    )
    jobs = [cell.next_job(), cell.next_job()]
    assert cell.next_job() is None and not study.trials
    assert [(j.key.phase, j.config.seed) for j in jobs] == [("final", 3), ("final", 4)]  # type: ignore[union-attr]
    assert cell.row.final_total == 2 and cell.row.cell.budget_text == "none"
