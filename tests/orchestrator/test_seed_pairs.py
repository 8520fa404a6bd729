"""The driver's pair bookkeeping for seeds until decided (issue 22), on real cell runners
and in-memory Optuna studies: seeds are added to both cells at once, and a seed that
fails in one cell ends the pair's looks instead of leaving the sweep waiting forever."""

from __future__ import annotations

import optuna

from orchestrator.runner.cell import CellRunner
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.seed_pairs import SeedPairs
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
