"""No read-back on the write path: a finished cell's summaries come from the trials the
driver holds, not from MLflow, and equal what a reader computes from MLflow afterwards
(real SQLite store, no Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from test_run_support import trial_result

from orchestrator.results.client import Client
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.summary import cell_summaries, log_comparison, log_summaries
from orchestrator.runner.tracking import SweepTracker
from workers.trial_types import TrialConfig

SWEEP = "s"
CONFIG = TrialConfig(seed=1, delta_lr=0.01, output_dir="/tmp/x/t", device="cpu")
READS = ("search_runs", "get_run", "get_metric_history", "list_artifacts", "download_artifacts")


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call, by any MlflowClient from now on, that reads runs back (a list to check)."""
    reads: list[str] = []
    for name in READS:
        original = getattr(MlflowClient, name)

        def counted(self: Any, *args: Any, _name: str = name, _f: Any = original, **kw: Any) -> Any:
            reads.append(_name)
            return _f(self, *args, **kw)

        monkeypatch.setattr(MlflowClient, name, counted)
    return reads


def _outcome(dev: float, test: float, size: int, cpu: float) -> TrialOutcome:
    return TrialOutcome.ok(
        trial_result(
            dev_score=dev,
            test_score=test,
            test={"accuracy": test},
            delta_params=size,
            backbone_params=1_000_000,
            budget_params=210,
            split_sizes={"test": 436, "official_validation": 872, "official_train": 67_349},
            cost={"cpu_s": cpu, "gpu_s": 0.0, "wall_s": cpu / 2},
        )
    )


def _log(tracker: SweepTracker, key: TrialKey, outcome: TrialOutcome, cell: str) -> str:
    config = CONFIG.model_copy(update={"seed": key.index if key.phase == "final" else 1})
    tracker.start_trial(key, config, cell)
    return tracker.finish_trial(key, config, outcome, [], 1)


def _sweep(tracker: SweepTracker, tmp_path: Path, methods: dict[str, tuple[float, ...]]) -> None:
    sweep_yaml = tmp_path / "s.yaml"
    sweep_yaml.write_text(f"name: {SWEEP}\n")
    tracker.start_parent(SWEEP, sweep_yaml, {"cells": []}, {})
    for method, tests in methods.items():
        cell = tracker.start_cell(SWEEP, "glue/sst2", method, "1%")
        for number, dev in enumerate((0.7, 0.9)):
            key = TrialKey(SWEEP, "glue/sst2", method, "1%", "tune", number)
            _log(tracker, key, _outcome(dev, 0.5, 200, 10.0), cell)
        key = TrialKey(SWEEP, "glue/sst2", method, "1%", "tune", 2)
        _log(tracker, key, TrialOutcome.failed("boom", {"cpu_s": 3.0}), cell)
        for seed, test in enumerate(tests, start=1):
            key = TrialKey(SWEEP, "glue/sst2", method, "1%", "final", seed)
            _log(tracker, key, _outcome(0.85, test, 200 + seed, 20.0 + seed), cell)


def _same(held: pd.DataFrame, read: pd.DataFrame) -> None:
    drop = ["start_time", "end_time"]
    assert list(held.columns) == list(read.columns)
    key = ["task", "method", "budget", "phase", "seed", "run_id"]
    left = held.drop(columns=drop).sort_values(key, ignore_index=True)
    right = read.drop(columns=drop).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


def test_a_finished_cell_reads_no_run_of_the_sweep_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = SweepTracker(f"sqlite:///{tmp_path}/m.db", "unit", tmp_path / "art")
    _sweep(tracker, tmp_path, {"random": (0.80, 0.80, 0.80), "s3delta": (0.82, 0.83)})
    last = TrialKey(SWEEP, "glue/sst2", "s3delta", "1%", "final", 3)
    config = CONFIG.model_copy(update={"seed": 3})
    tracker.start_trial(last, config, tracker.cell_ids[("glue/sst2", "s3delta", "1%")])
    reads = count_reads(monkeypatch)  # the cell's last trial ends: record it, summarise
    tracker.finish_trial(last, config, _outcome(0.85, 0.84, 203, 23.0), [], 1)
    summaries = log_summaries(tracker, SWEEP, [("glue/sst2", "s3delta", "1%")], close=True)
    assert log_comparison(tracker, SWEEP) > 0
    assert reads == []
    monkeypatch.undo()
    assert summaries[("glue/sst2", "s3delta", "1%")]["diff_vs_random"] == pytest.approx(3.0)

    # what was held is what a reader reads back, and gives the same summaries
    client = Client(tracker.tracking_uri, "unit")
    read = client.trials(SWEEP, phase=None)
    _same(tracker.trials(), read)
    assert cell_summaries(read) == summaries
    cell = client.mlflow.get_run(tracker.cell_ids[("glue/sst2", "s3delta", "1%")])
    assert cell.info.status == "FINISHED"
    assert cell.data.metrics["test_score_mean"] == pytest.approx(0.83)
    assert cell.data.metrics["cost_cpu_s"] == pytest.approx(20 + 66 + 3)
    parent = client.mlflow.get_run(tracker.parent_id or "").data.metrics
    logged = {k: v for k, v in parent.items() if k.startswith("compare/")}
    assert logged == pytest.approx(client.log_comparison(SWEEP))


def test_a_resumed_driver_holds_the_earlier_trials_from_one_read_at_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path}/m.db"
    first = SweepTracker(uri, "unit", tmp_path / "art")
    _sweep(first, tmp_path, {"random": (0.80, 0.80, 0.80)})
    second = SweepTracker(uri, "unit", tmp_path / "art")
    second.recorded(SWEEP)  # what `--resume` reads once, before anything starts
    second.parent_id = first.parent_id
    cell = second.start_cell(SWEEP, "glue/sst2", "s3delta", "1%")
    for seed, test in enumerate((0.82, 0.83, 0.84), start=1):
        key = TrialKey(SWEEP, "glue/sst2", "s3delta", "1%", "final", seed)
        _log(second, key, _outcome(0.85, test, 200 + seed, 20.0), cell)
    reads = count_reads(monkeypatch)
    summaries = log_summaries(second, SWEEP, [("glue/sst2", "s3delta", "1%")], close=True)
    assert reads == []
    monkeypatch.undo()
    read = Client(uri, "unit").trials(SWEEP, phase=None)
    _same(second.trials(), read)
    assert cell_summaries(read) == summaries
    assert summaries[("glue/sst2", "s3delta", "1%")]["diff_vs_random"] == pytest.approx(3.0)
