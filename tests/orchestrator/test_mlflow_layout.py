"""The MLflow layout a sweep writes (real SQLite store, no Ray): live trial runs, one run
per key across retries and resumes, cell runs with summary metrics, structure metrics,
machine-local settings kept out of params, the experiment kind and the links printed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from test_run_support import log_trial, trial_result

from orchestrator.mlflow_links import experiment_url, run_url
from orchestrator.results.structure_metrics import structure_metrics
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.summary import log_summaries
from orchestrator.runner.tracking import LOCAL_SETTINGS, SweepTracker
from workers.trial_types import TrialConfig


def _tracker(tmp_path: Path) -> SweepTracker:
    return SweepTracker(f"sqlite:///{tmp_path}/m.db", "unit", tmp_path / "art")


def _parent(tracker: SweepTracker, tmp_path: Path, name: str = "s") -> str:
    sweep_yaml = tmp_path / "s.yaml"
    sweep_yaml.write_text(f"name: {name}\n")
    return tracker.start_parent(name, sweep_yaml, {"cells": []}, {})


def _events(steps: range, value: float = 1.0) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {"phase": "search", "step": s, "total_steps": 10, "metrics": {"loss": value}, "time": now}
        for s in steps
    ]


STRUCTURE = {
    "format": "s3delta.structure",
    "backbone": "/nonexistent",
    "entries": [
        {
            "path": "encoder.layer.0.attention.self.query",
            "kind": "lora",
            "size": 100,
            "layer": 0,
            "stack": "encoder",
        },
        {
            "path": "encoder.layer.3.output.LayerNorm",
            "kind": "bitfit",
            "size": 30,
            "layer": 3,
            "stack": "encoder",
        },
        {
            "path": "encoder.layer.2.output",
            "kind": "lra",
            "size": 70,
            "layer": 2,
            "stack": "encoder",
        },
    ],
}


def _result(dev: float, test: float, size: int = 200) -> TrialOutcome:
    return TrialOutcome.ok(
        trial_result(
            structure=STRUCTURE,
            probabilities={f"encoder.layer.{i}.output:lra": 0.1 for i in range(4)},
            dev_score=dev,
            test_score=test,
            delta_params=size,
            backbone_params=1_000_000,
            budget_params=210,
        )
    )


CONFIG = TrialConfig(
    seed=1,
    delta_lr=0.01,
    output_dir="/tmp/x/trial",
    checkpoint_dir="/tmp/x/trial/checkpoints",
    cache_dir="/tmp/x/cache",
    data_dir="/data",
    num_threads=2,
    device="cpu",
)


def test_a_trial_run_is_running_with_step_metrics_before_the_trial_ends(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    _parent(tracker, tmp_path)
    cell = tracker.start_cell("s", "glue/sst2", "s3delta", "1%")
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "tune", 0)
    run_id = tracker.start_trial(key, CONFIG, cell)
    tracker.log_events(key, _events(range(1, 4)))
    live = tracker.client.get_run(run_id)
    assert live.info.status == "RUNNING"
    assert live.data.tags["mlflow.parentRunId"] == cell
    assert live.data.tags["s3delta.optuna_trial"] == "0"
    history = tracker.client.get_metric_history(run_id, "search/loss")
    assert [m.step for m in history] == [1, 2, 3]
    done = tracker.finish_trial(key, CONFIG, _result(0.8, 0.7), [], 1)
    assert done == run_id
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.end_time > run.info.start_time


def test_paths_and_machine_settings_are_tags_and_config_json_not_params(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    _parent(tracker, tmp_path)
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "final", 1)
    run_id = log_trial(tracker, key, CONFIG, _result(0.8, 0.7), [], 1)
    run = tracker.client.get_run(run_id)
    readable = {"phase", "budget_pct"}
    assert set(run.data.params) == set(TrialConfig.model_fields) - set(LOCAL_SETTINGS) | readable
    assert (run.data.params["seed"], run.data.params["delta_lr"]) == ("1", "0.01")
    tags = run.data.tags
    assert tags["s3delta.local.checkpoint_dir"] == "/tmp/x/trial/checkpoints"
    assert tags["s3delta.local.num_threads"] == "2" and tags["s3delta.local.device"] == "cpu"
    assert "config.json" in {a.path for a in tracker.client.list_artifacts(run_id)}


def test_a_key_rerun_after_a_dead_driver_reuses_its_run_and_steps_are_not_doubled(
    tmp_path: Path,
) -> None:
    first = _tracker(tmp_path)
    _parent(first, tmp_path)
    key = TrialKey("s", "glue/sst2", "random", "1%", "final", 2)
    run_id = first.start_trial(key, CONFIG, first.start_cell("s", "glue/sst2", "random", "1%"))
    first.log_events(key, _events(range(1, 6), 1.0))
    # the driver dies here: the trial and cell runs stay RUNNING

    second = _tracker(tmp_path)
    assert second.close_stale("s") == 2
    stale = second.client.get_run(run_id)
    assert stale.info.status == "FAILED" and stale.data.tags["s3delta.state"] == "interrupted"
    assert key.text not in second.recorded("s")  # no outcome: the key runs again
    assert second.start_trial(key, CONFIG) == run_id
    assert second.client.get_run(run_id).info.status == "RUNNING"
    second.log_events(key, _events(range(3, 9), 2.0))  # resumed from the step-3 checkpoint
    second.finish_trial(key, CONFIG, _result(0.8, 0.7), [], 2)

    runs = second.client.search_runs(
        [second.experiment_id], filter_string=f"tags.`s3delta.key` = '{key.text}'"
    )
    assert [(r.info.run_id, r.info.status) for r in runs] == [(run_id, "FINISHED")]
    history = second.client.get_metric_history(run_id, "search/loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0) for s in range(1, 6)] + [
        (s, 2.0) for s in range(6, 9)
    ]


def test_cell_runs_sit_between_sweep_and_trials_with_summary_metrics(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    parent = _parent(tracker, tmp_path)
    scores = {"s3delta": (0.82, 0.83, 0.84), "random": (0.80, 0.80, 0.80)}
    trial_parent = {}
    for method, tests in scores.items():
        cell = tracker.start_cell("s", "glue/sst2", method, "1%")
        for number, dev in enumerate((0.7, 0.9)):
            key = TrialKey("s", "glue/sst2", method, "1%", "tune", number)
            outcome = _result(dev, 0.5)
            log_trial(tracker, key, CONFIG, outcome, [], 1, cell)
        for seed, test in zip((1, 2, 3), tests, strict=True):
            key = TrialKey("s", "glue/sst2", method, "1%", "final", seed)
            outcome = _result(0.85, test, 200 + seed)
            run_id = log_trial(
                tracker, key, CONFIG.model_copy(update={"seed": seed}), outcome, [], 1, cell
            )
            trial_parent[run_id] = cell
    log_summaries(tracker, "s", close=True)

    cell_run = tracker.client.get_run(tracker.cell_ids[("glue/sst2", "s3delta", "1%")])
    assert cell_run.data.tags["mlflow.parentRunId"] == parent
    assert cell_run.data.tags["s3delta.kind"] == "cell" and cell_run.info.status == "FINISHED"
    m = cell_run.data.metrics
    assert m["best_dev_score"] == pytest.approx(0.9)
    assert m["test_score_mean"] == pytest.approx(0.83)
    assert m["test_score_std"] == pytest.approx(0.01)
    assert (m["n_seeds"], m["delta_params"]) == (3, pytest.approx(202))
    # for reading: points, 2 decimals (the exact fractions above stay)
    assert (m["test_score_pct"], m["test_score_std_pct"], m["best_dev_score_pct"]) == (
        83.0,
        1.0,
        90.0,
    )
    # differences 2, 3, 4 points: mean 3, sd 1, CI 3 ± 4.302653/√3; read rounded, exact kept
    assert m["diff_vs_random"] == pytest.approx(3.0)
    assert m["diff_vs_random_exact"] == pytest.approx(3.0)
    assert m["diff_vs_random_ci_low"] == 0.52 and m["diff_vs_random_ci_high"] == 5.48
    assert m["diff_vs_random_ci_low_exact"] == pytest.approx(3 - 2.484138, abs=1e-6)
    assert m["diff_vs_random_ci_high_exact"] == pytest.approx(3 + 2.484138, abs=1e-6)
    assert m["budget_pct"] == 1.0
    sweep_metrics = tracker.client.get_run(parent).data.metrics
    assert sweep_metrics["cell/glue_sst2/s3delta/1pct/diff_vs_random"] == pytest.approx(3.0)
    assert sweep_metrics["cell/glue_sst2/random/1pct/test_score_mean"] == pytest.approx(0.8)
    for run_id, cell in trial_parent.items():
        assert tracker.client.get_run(run_id).data.tags["mlflow.parentRunId"] == cell


def test_structure_metrics_count_and_size_each_kind_and_the_upper_share(tmp_path: Path) -> None:
    values = structure_metrics(STRUCTURE, {"encoder": 4})
    assert values["structure/n_lora"] == 1 and values["structure/n_adapter"] == 0
    assert values["structure/size_bitfit"] == 30 and values["structure/size"] == 200
    assert values["structure/upper_fraction"] == pytest.approx(100 / 200)  # layers 2 and 3
    # without a config the layer count comes from the candidate names (layers 0..5: 6)
    names = [f"encoder.layer.{i}.output:lra" for i in range(6)]
    assert structure_metrics(STRUCTURE, None, names)["structure/upper_fraction"] == 30 / 200

    tracker = _tracker(tmp_path)
    _parent(tracker, tmp_path)
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "final", 1)
    run_id = log_trial(tracker, key, CONFIG, _result(0.8, 0.7), [], 1)
    logged = tracker.client.get_run(run_id).data.metrics
    assert logged["structure/n_lra"] == 1 and logged["structure/upper_fraction"] == 0.5
    found = tracker.client.search_runs(
        [tracker.experiment_id], filter_string="metrics.`structure/upper_fraction` > 0.4"
    )
    assert [r.info.run_id for r in found] == [run_id]


def test_the_experiment_is_a_model_training_experiment_and_links_open_its_runs(
    tmp_path: Path,
) -> None:
    tracker = _tracker(tmp_path)
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(experiment.tags["mlflow.sharedViewState.s3delta-runs"])
    assert "metrics.`diff_vs_random`" in view["selectedColumns"]
    assert "metrics.`test_score_pct`" in view["selectedColumns"]
    assert experiment_url("http://h", "3", shared_view=True).endswith(
        "runs?workflowType=machine_learning&viewStateShareKey=s3delta-runs"
    )
    assert (
        experiment_url("http://127.0.0.1:5000/", "3")
        == "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    )
    assert (
        run_url("http://h:5000", "3", "abc")
        == "http://h:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    )


def test_the_optuna_trial_of_a_tuning_run_knows_its_mlflow_run(tmp_path: Path) -> None:
    from orchestrator.runner.driver import MLFLOW_RUN_ATTR

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    tracker = _tracker(tmp_path)
    _parent(tracker, tmp_path)
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "tune", trial.number)
    run_id = tracker.start_trial(key, CONFIG)
    trial.set_user_attr(MLFLOW_RUN_ATTR, run_id)
    assert study.trials[0].user_attrs["mlflow_run_id"] == run_id
    assert tracker.client.get_run(run_id).data.tags["s3delta.optuna_trial"] == str(trial.number)


def test_every_run_carries_task_method_budget_seed_phase_params_and_a_short_name(
    tmp_path: Path,
) -> None:
    tracker = _tracker(tmp_path)
    sweep_yaml = tmp_path / "s.yaml"
    sweep_yaml.write_text("name: s\n")
    cells = [
        {"task": "glue/sst2", "method": m, "budget": b, "seeds": [1, 2]}
        for m, b in (("s3delta", "0.01%"), ("random", "0.01%"), ("finetune", None))
    ]
    parent = tracker.start_parent("s", sweep_yaml, {"cells": cells}, {})
    cell = tracker.start_cell("s", "glue/sst2", "s3delta", "0.01%")
    free = tracker.start_cell("s", "glue/sst2", "finetune", "none")
    tune = TrialKey("s", "glue/sst2", "s3delta", "0.01%", "tune", 3)
    final = TrialKey("s", "glue/sst2", "s3delta", "0.01%", "final", 2)
    config = CONFIG.model_copy(update={"budget": "0.01%"})
    tune_id = log_trial(tracker, tune, config, _result(0.8, 0.7), [], 1, cell)
    final_config = config.model_copy(update={"seed": 2})
    final_id = log_trial(tracker, final, final_config, _result(0.81234, 0.69876), [], 1, cell)

    def run(run_id: str) -> Any:
        return tracker.client.get_run(run_id)

    def readable(run_id: str) -> tuple[str, ...]:
        params = run(run_id).data.params
        return tuple(params.get(n, "") for n in ("task", "method", "budget", "seed", "phase"))

    assert readable(parent) == (
        "glue/sst2",
        "s3delta, random, finetune",
        "0.01%, none",
        "1, 2",
        "sweep",
    )
    assert readable(cell) == ("glue/sst2", "s3delta", "0.01%", "all", "cell")
    assert readable(free) == ("glue/sst2", "finetune", "none", "all", "cell")
    assert readable(final_id) == ("glue/sst2", "s3delta", "0.01%", "2", "final")
    assert readable(tune_id)[3:] == ("1", "tune")  # the tuning seed of the config
    assert run(cell).data.params["budget_pct"] == "0.01"
    assert "budget_pct" not in run(free).data.params
    names = {run(i).info.run_name for i in (cell, free, tune_id, final_id)}
    assert names == {
        "glue/sst2 · s3delta · 0.01%",
        "glue/sst2 · finetune · none",
        "s3delta · 0.01% · trial 3 · tune",
        "s3delta · 0.01% · seed 2 · final",
    }
    # a trial's scores for reading in points (2 decimals), the exact fractions kept
    metrics = run(final_id).data.metrics
    assert (metrics["test_score_pct"], metrics["dev_score_pct"]) == (69.88, 81.23)
    assert metrics["test_score"] == 0.69876
    found = tracker.client.search_runs(
        [tracker.experiment_id], "params.phase = 'final' and params.budget_pct = '0.01'"
    )
    assert [r.info.run_id for r in found] == [final_id]

    # a later driver (--resume) finds the cell and the trial's key by tags, not by name
    second = _tracker(tmp_path)
    second.parent_id = parent
    assert second.start_cell("s", "glue/sst2", "s3delta", "0.01%") == cell
    assert second.recorded("s")[final.text].run_id == final_id


def test_the_shared_view_shows_cells_unnested_with_the_comparison_columns_first(
    tmp_path: Path,
) -> None:
    from orchestrator.mlflow_links import VIEW_SEARCH

    tracker = _tracker(tmp_path)
    _parent(tracker, tmp_path)
    cell = tracker.start_cell("s", "glue/sst2", "s3delta", "1%")
    key = TrialKey("s", "glue/sst2", "s3delta", "1%", "final", 1)
    trial = log_trial(tracker, key, CONFIG, _result(0.8, 0.7), [], 1, cell)
    view = json.loads(
        tracker.client.get_experiment(tracker.experiment_id).tags[
            "mlflow.sharedViewState.s3delta-runs"
        ]
    )
    assert view["columnOrder"][:4] == [
        "metrics.`test_score_pct`",
        "metrics.`diff_vs_random`",
        "metrics.`diff_vs_random_ci_low`",
        "metrics.`diff_vs_random_ci_high`",
    ]
    assert {"params.`task`", "params.`method`", "params.`budget`"} <= set(view["selectedColumns"])
    # the view searches the trials: the UI adds their parents, the cells (not the sweep
    # run), so the cells are the table's top rows (tests/orchestrator/test_mlflow_browser)
    shown = tracker.client.search_runs([tracker.experiment_id], view["searchFilter"])
    assert view["searchFilter"] == VIEW_SEARCH
    assert [r.info.run_id for r in shown] == [trial]
    assert shown[0].data.tags["mlflow.parentRunId"] == cell
