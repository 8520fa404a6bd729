"""Trial cost accounting (workers/cost.py): CPU-seconds, peak memory, shares, per-bucket CPU."""

from __future__ import annotations

import time

import pytest

from tests.conftest import SHARED_DATA
from workers.cost import CostMeter, peak_rss_mb, reset_peak_rss
from workers.timings import Timings
from workers.trial import run_trial
from workers.trial_types import TrialConfig


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_seconds_count_work_and_not_sleep() -> None:
    meter = CostMeter()
    _spin(0.3)
    time.sleep(0.3)
    cost = meter.finish()
    assert 0.25 <= cost["cpu_s"] <= cost["wall_s"]
    assert cost["wall_s"] >= 0.55
    assert cost["gpu_s"] == 0.0 and "peak_gpu_mb" not in cost


def test_peak_memory_is_this_trials_not_the_processes_lifetime() -> None:
    block = bytearray(200 * 2**20)  # an earlier trial's peak in the same worker process
    block[:: 4096] = b"x" * len(block[:: 4096])
    del block
    if not reset_peak_rss():
        pytest.skip("this kernel does not allow resetting the RSS high-water mark")
    before = peak_rss_mb()
    meter = CostMeter()
    cost = meter.finish()
    assert cost["peak_rss_reset"] == 1.0
    assert cost["peak_rss_mb"] < before + 150  # the earlier 200 MiB no longer counts
    meter = CostMeter()
    block = bytearray(100 * 2**20)
    block[:: 4096] = b"x" * len(block[:: 4096])
    cost = meter.finish()
    del block
    assert cost["peak_rss_mb"] >= before + 90


def test_timing_buckets_hold_their_cpu_seconds_without_double_counting() -> None:
    timings = Timings()
    with timings.measure("search_steps"):
        _spin(0.2)
        with timings.measure("evaluation"):
            _spin(0.2)
    assert timings.cpu_seconds["evaluation"] == pytest.approx(0.2, abs=0.05)
    assert timings.cpu_seconds["search_steps"] == pytest.approx(0.2, abs=0.05)
    assert timings.cpu_seconds["retrain_steps"] == 0.0


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_a_trial_records_what_it_cost(tiny_bert_dir) -> None:
    cfg = TrialConfig(
        model=str(tiny_bert_dir), task="glue/sst2", method="s3delta", budget="0.1%", seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, eval_batch_size=32, search_steps=6, retrain_steps=4, eval_every=2,
        num_threads=1, device="cpu",
    )  # fmt: skip
    result = run_trial(cfg)
    cost = result.cost
    assert result.device == "cpu" and cost["gpu_s"] == 0.0
    assert cost["cpu_s"] > 0 and cost["peak_rss_mb"] > 50
    # the parts' CPU-seconds are inside the whole (the trial ran on one thread here)
    parts = sum(v for k, v in cost.items() if k.startswith("cpu_") and k != "cpu_s")
    assert cost["cpu_search_steps_s"] > 0 and cost["cpu_retrain_steps_s"] > 0
    assert parts <= cost["cpu_s"] * 1.01 + 0.05
    shares = [cost["share_search"], cost["share_retrain"], cost["share_evaluation"]]
    assert all(0 < s < 1 for s in shares) and sum(shares) <= 1.0
    wall = result.timings["wall"]
    assert cost["share_search"] == pytest.approx(result.timings["search_steps"] / wall, abs=1e-3)
    assert cost["wall_s"] >= wall
