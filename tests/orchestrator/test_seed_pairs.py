"""The driver's pair bookkeeping for seeds until decided (issue 22), on real cell runners
and in-memory Optuna studies: seeds are added to both cells at once, and a seed that
fails in one cell ends the pair's looks instead of leaving the sweep waiting forever."""

from __future__ import annotations

from pathlib import Path

import optuna

from orchestrator.results.sequential import SeedStep
from orchestrator.runner.cell import CellRunner
from orchestrator.runner.driver import SEEDS_NEXT_TAG, log_seed_verdict
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.seed_pairs import SeedPairs
from orchestrator.runner.tracking import SweepTracker
from orchestrator.sweep.plan import Cell
from orchestrator.sweep.sequential_seeds import SequentialSeeds
from workers.trial_types import TrialConfig, TrialResult


def _runner(method: str) -> CellRunner:
    cell = Cell("glue/sst2", method, "0.01%", 0, (1, 2, 3), ())
    return CellRunner(
        sweep_name="s", cell=cell, study=optuna.create_study(),
        suggest=lambda trial: TrialConfig(method=method),
        finalize=lambda config, key: config, recorded={}, multi_objective=False,
    )  # fmt: skip


def _result(score: float) -> TrialResult:
    return TrialResult(
        config={}, structure=None, probabilities=None, expected_size_trajectory=[],
        search_dev={}, dev={}, test={}, dev_score=score, test_score=score, delta_params=1,
        head_params=0, backbone_params=100, budget_params=1, split_sizes={}, wall_time_s=1.0,
        device="cpu",
    )  # fmt: skip


def _drain(cell: CellRunner) -> list:
    jobs = []
    while (job := cell.next_job()) is not None:
        jobs.append(job)
    return jobs


def test_a_failed_seed_settles_the_pair_and_both_cells_finish() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    a, b = _runner("s3delta"), _runner("random")
    pairs = SeedPairs(SequentialSeeds(start=[1, 2, 3], max=6, until="decided", margin=0.0), [a, b])
    scores = {"s3delta": [0.80, 0.81, 0.79], "random": [0.80, 0.80, 0.80]}
    for cell in (a, b):
        for job, score in zip(_drain(cell), scores[cell.cell.method], strict=True):
            cell.complete(job, TrialOutcome.ok(_result(score)))
            pairs.after_final(cell)
    # margin 0 is never "equivalent": seed 4 is added to both cells at once
    assert a.seeds == b.seeds == (1, 2, 3, 4)
    assert not a.finished and not b.finished
    (job_a,), (job_b,) = _drain(a), _drain(b)
    assert job_a.config.seed == job_b.config.seed == 4
    a.complete(job_a, TrialOutcome.ok(_result(0.8)))
    pairs.after_final(a)
    assert not a.finished  # its pair still waits for random's seed 4
    b.complete(job_b, TrialOutcome.failed("disk full"))
    pairs.after_final(b)
    # seed 4 can never be paired: the looks end undecided and both cells are finished
    (pair,) = pairs.pairs
    assert pair.last is not None and pair.last.verdict == "undecided"
    assert a.finished and b.finished
    assert a.seeds == b.seeds == (1, 2, 3, 4)


def test_a_look_that_adds_no_seed_drops_the_seed_an_earlier_look_named(tmp_path: Path) -> None:
    # a decided cell kept `s3delta.seeds_next` = the seed its last "more" added (the real
    # SST-2 sweep against finetune, worse after 11 seeds, still said next 11)
    tracker = SweepTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "seeds-next", None)
    a, b = _runner("s3delta"), _runner("finetune")
    pairs = SeedPairs(
        SequentialSeeds(start=[1, 2, 3], max=12, until="decided", margin=2.0, baseline="finetune"),
        [a, b],
    )
    (pair,) = pairs.pairs
    a.run_id = tracker.start_cell("s", *a.cell.ident)
    pair.last = SeedStep(
        verdict="undecided", interval=(-4.6, 1.4), n_pairs=10, next_seed=11, decision=None
    )
    log_seed_verdict(tracker, pair)
    assert tracker.client.get_run(a.run_id).data.tags[SEEDS_NEXT_TAG] == "11"
    pair.last = SeedStep(
        verdict="worse", interval=(-3.5, -0.02), n_pairs=11, next_seed=None, decision=None
    )
    log_seed_verdict(tracker, pair)
    log_seed_verdict(tracker, pair)  # again (a resumed driver's first look): no tag to drop
    tags = tracker.client.get_run(a.run_id).data.tags
    assert SEEDS_NEXT_TAG not in tags
    assert (tags["s3delta.seeds_verdict"], tags["s3delta.seeds_used"]) == ("worse", "11")
    assert tags["s3delta.seeds_baseline"] == "finetune"
