"""Seeds until decided (`orchestrator.results.sequential`): the boundaries, the look,
the driver's step, and a seeded simulation of the error rates under optional stopping.

The simulation is the issue's bar: over many simulated sweeps with a true difference of
0, the share that ends "better" or "worse" is at most 5%; the message gives the share
with its 95% Clopper-Pearson interval. Whole sweeps are simulated (start 3 seeds, a
look after every pair, at most 20, equivalence margin 1 point, seed spread 1.5 points)
with the vectorised `decide_many`, which is checked against `decide` row by row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from orchestrator.results.sequential import (
    VERDICTS,
    SeedStep,
    critical_values,
    decide,
    decide_many,
    look,
    next_step,
    reference_values,
    seed_schedule,
    spent,
    z_boundaries,
)

START, MAX, MARGIN, SPREAD = 3, 20, 1.0, 1.5
SWEEPS = 200_000  # the issue asks for >= 10,000; more makes a 5% bar a sharp one


def _clopper_pearson(hits: int, total: int) -> tuple[float, float]:
    low = stats.beta.ppf(0.025, hits, total - hits + 1) if hits else 0.0
    high = stats.beta.ppf(0.975, hits + 1, total - hits) if hits < total else 1.0
    return float(low), float(high)


def _simulate(mean: float, seed: int, draw: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if draw == "normal":
        noise = rng.standard_normal((SWEEPS, MAX))
    else:  # Student t with 3 degrees of freedom, scaled to sd 1: heavy tails
        noise = rng.standard_t(3, (SWEEPS, MAX)) / math.sqrt(3)
    return decide_many(mean + SPREAD * noise, n_start=START, n_max=MAX, margin=MARGIN)


def _rate_line(what: str, hits: int) -> str:
    low, high = _clopper_pearson(hits, SWEEPS)
    return f"{what}: {hits}/{SWEEPS} = {hits / SWEEPS:.4%} (95% CI {low:.4%} .. {high:.4%})"


@pytest.mark.parametrize("draw", ["normal", "t3"])
def test_no_difference_is_wrongly_declared_at_most_5_percent(draw: str) -> None:
    verdict, used = _simulate(0.0, seed=2201, draw=draw)
    wrong = int(np.isin(verdict, [VERDICTS.index("better"), VERDICTS.index("worse")]).sum())
    better = int((verdict == VERDICTS.index("better")).sum())
    line = _rate_line(f"true difference 0 ({draw}), declared better or worse", wrong)
    print(line, f"mean seeds {used.mean():.2f}")
    assert wrong / SWEEPS <= 0.05, line
    # and about evenly on both sides: at most 2.5% each (within simulation noise)
    assert better / SWEEPS <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / SWEEPS), _rate_line(
        "declared better", better
    )


def test_a_difference_of_one_margin_is_rarely_called_equivalent() -> None:
    """The interval covers the true difference at every look at once, so equivalence
    (interval inside +-margin) is wrong at most 2.5% of the time when the truth is
    +margin."""
    verdict, _ = _simulate(MARGIN, seed=2202)
    hits = int((verdict == VERDICTS.index("equivalent")).sum())
    line = _rate_line(f"true difference {MARGIN} (= margin), declared equivalent", hits)
    assert hits / SWEEPS <= 0.025, line


def test_a_real_difference_is_found_early() -> None:
    verdict, used = _simulate(1.5, seed=2203)
    better = (verdict == VERDICTS.index("better")).mean()
    assert better > 0.95 and used.mean() < 14, (better, used.mean())


def test_decide_many_agrees_with_decide() -> None:
    rng = np.random.default_rng(7)
    means = np.repeat([-1.2, 0.0, 0.6, 1.2], 100)[:, None]
    diffs = rng.normal(means, 1.5, (400, MAX))
    verdict, used = decide_many(diffs, n_start=START, n_max=MAX, margin=MARGIN)
    for row, code, n in zip(diffs, verdict, used, strict=True):
        decision = decide(list(row), n_start=START, n_max=MAX, margin=MARGIN)
        assert (decision.verdict, decision.n_pairs) == (VERDICTS[code], n)
    assert len(set(verdict.tolist())) == 4  # every verdict occurs


def test_z_boundaries_match_the_published_lan_demets_values() -> None:
    """Five equally spaced looks, two-sided 0.05, O'Brien-Fleming-type spending: 4.8769,
    3.3569, 2.6803, 2.2898, 2.0310 (as R's ldbounds and gsDesign give them); one look is
    the fixed test, 1.95996."""
    obf = z_boundaries((1, 2, 3, 4, 5))
    assert obf == pytest.approx((4.8769, 3.3569, 2.6803, 2.2898, 2.0310), abs=2e-4)
    assert z_boundaries((7,)) == pytest.approx((1.959964,), abs=1e-6)
    pocock = z_boundaries((1, 2, 3, 4, 5), spending="pocock")
    assert pocock == pytest.approx((2.4380, 2.4268, 2.4101, 2.3966, 2.3859), abs=2e-3)
    assert spent(1.0) == pytest.approx(0.025) and spent(1.0, spending="pocock") == 0.025


def test_calibrated_multipliers_spend_the_error_as_designed() -> None:
    """Fresh normal sequences (not the calibration's) cross each look in about the share
    the spending function gives it; the z-to-t reference overspends."""
    values = critical_values(START, MAX)
    reference = reference_values(START, MAX)
    assert all(values[n] > 1.96 for n in values) and set(values) == set(range(START, MAX + 1))
    assert values[MAX] > reference[MAX]  # the calibration widens the last look
    rng = np.random.default_rng(99)
    x = rng.standard_normal((SWEEPS, MAX))
    counts = np.arange(1, MAX + 1)
    mean = np.cumsum(x, axis=1) / counts
    sd = np.sqrt((np.cumsum(x * x, axis=1) - counts * mean**2) / np.maximum(counts - 1, 1))
    t_abs = np.abs(mean) * np.sqrt(counts) / np.where(counts > 1, sd, np.inf)
    crossed = np.zeros(SWEEPS, dtype=bool)
    for n in range(START, MAX + 1):
        crossed |= t_abs[:, n - 1] >= values[n]
    assert crossed.mean() == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / SWEEPS))


def test_a_look() -> None:
    clear = look([2.0, 2.5, 1.5, 2.2, 1.8, 2.1, 1.9, 2.0], n_start=3, n_max=20, margin=1.0)
    assert clear.verdict == "better" and clear.ci_low > 0 and not clear.more
    worse = look(
        [-x for x in [2.0, 2.5, 1.5, 2.2, 1.8, 2.1, 1.9, 2.0]], n_start=3, n_max=20, margin=1.0
    )
    assert worse.verdict == "worse" and worse.ci_high < 0
    flat = [0.1, -0.1, 0.05, -0.05] * 5
    assert look(flat, n_start=3, n_max=20, margin=1.0).verdict == "equivalent"
    early = look([1.0, -2.0, 3.0], n_start=3, n_max=20, margin=1.0)
    assert early.verdict == "undecided" and early.more
    assert early.ci_low < early.mean_diff < early.ci_high
    last = look([1.0, -2.0, 3.0] * 6 + [0.5, 0.5], n_start=3, n_max=20, margin=1.0)
    assert last.verdict == "undecided" and not last.more and last.n_pairs == 20
    with pytest.raises(ValueError, match="between 3 and 20"):
        look([1.0, 2.0], n_start=3, n_max=20, margin=1.0)


def test_seed_schedule_follows_the_start_seeds() -> None:
    assert seed_schedule([1, 2, 3], 6) == (1, 2, 3, 4, 5, 6)
    assert seed_schedule([7, 3], 4) == (7, 3, 8, 9)
    assert seed_schedule([1, 2, 3], 3) == (1, 2, 3)


def test_next_step_for_the_driver() -> None:
    def step_of(s3: dict[int, float], base: dict[int, float]) -> SeedStep:
        return next_step(s3, base, start=[1, 2, 3], n_max=12, margin=1.0)

    # start seeds not all finished: nothing to add yet
    waiting = step_of({1: 0.80, 2: 0.81, 3: 0.79}, {1: 0.80, 2: 0.80})
    assert (waiting.verdict, waiting.interval, waiting.next_seed) == ("undecided", None, None)
    # three noisy pairs: undecided, add seed 4 to both cells
    s3 = {1: 0.80, 2: 0.83, 3: 0.79}
    base = {1: 0.79, 2: 0.80, 3: 0.80}
    step = step_of(s3, base)
    assert step.verdict == "undecided" and step.next_seed == 4 and step.n_pairs == 3
    assert step.interval is not None and step.interval[0] < 0 < step.interval[1]
    # a clear +2 points: decided at the first deciding look; later (speculative) seeds
    # and their order of arrival do not change the verdict or the seeds it used
    gains = [0.020, 0.021, 0.019, 0.020, 0.022, 0.018, 0.020, 0.021, 0.019, 0.020]
    s3 = {seed: 0.80 + g for seed, g in zip(range(1, 11), gains, strict=True)}
    base = {seed: 0.80 for seed in range(1, 11)}
    decided = step_of(s3, base)
    assert decided.verdict == "better" and decided.next_seed is None
    used = decided.n_pairs
    fewer = step_of({s: s3[s] for s in range(1, used + 1)}, base)
    assert (fewer.verdict, fewer.n_pairs, fewer.interval) == ("better", used, decided.interval)
    # a gap in the schedule: the look stops at the first missing seed
    gap = step_of({s: v for s, v in s3.items() if s != 5}, base)
    assert gap.n_pairs <= 4 and gap.next_seed in (None, 5)
