"""Seeds until decided: a paired comparison that may stop after any pair of seeds.

A sweep with ``seeds: {start: [...], max: N, until: decided, margin: M}`` adds one
paired seed at a time to an s3delta cell and its baseline cell, and stops when the
comparison is settled. Recomputing a fixed-n t-interval after every seed does not hold
its 95%: the more looks, the more often one of them excludes 0 by chance. This module
gives intervals that do hold under that optional stopping.

Method: a group-sequential design with a look after every pair, n = n_start .. n_max,
and **repeated confidence intervals** (Jennison & Turnbull 1989, JRSS B 51:305-361;
Jennison & Turnbull 2000, *Group Sequential Methods with Applications to Clinical
Trials*, ch. 9 and 19). The error is spent over the looks by a Lan-DeMets spending
function (Lan & DeMets 1983, Biometrika 70:659-663; O'Brien-Fleming type by default),
the z boundaries come from the recursive numerical integration of Armitage, McPherson
and Rowe (1969) over the look schedule, and each z boundary becomes a Student-t
multiplier with the look's n - 1 degrees of freedom by equal tail probability (the
"significance level" approach of Jennison & Turnbull 2000, section 3.8) because the
spread of the differences is unknown. The intervals cover the true mean difference at
every look at once with probability about 1 - alpha, so any stopping rule that reads
them (including stopping for equivalence) keeps its error rates; that is checked by
simulation in ``tests/orchestrator/test_sequential_seeds.py``. docs/design.md says why
this rather than a confidence sequence.

Pure: numpy and scipy only (no torch, Ray or MLflow). Differences are in points
(score x 100), as in the paired comparison.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import optimize, special, stats

Verdict = Literal["better", "worse", "equivalent", "undecided"]
Spending = Literal["obrien-fleming", "pocock"]

ALPHA = 0.05  # two-sided: at most 2.5% wrongly "better", 2.5% wrongly "worse"
SPENDING: Spending = "obrien-fleming"
POINTS = 100.0  # a score of 0.8123 is 81.23 points
_GRID = 401  # points of the integration grid per look (odd: Simpson's rule)
_SPAN = 12.0  # the grid covers at most +-12 standard deviations of the running sum
_STEP = 0.125  # and is at least this fine (the running sum moves by sd 1 per observation)
_PATHS = 2**18  # simulated sequences that calibrate the t multipliers
_SEED = 22  # their seed (the issue that asked for this)


def spent(fraction: float, alpha: float = ALPHA, spending: Spending = SPENDING) -> float:
    """The error spent on one side by information `fraction` (n / n_max), Lan-DeMets.

    ``obrien-fleming``: 2 (1 - Phi(z_{1-alpha/4} / sqrt(t))), little early, most at the end;
    ``pocock``: alpha/2 ln(1 + (e - 1) t), about evenly over the looks."""
    side = alpha / 2
    t = min(max(fraction, 0.0), 1.0)
    if t == 0.0:
        return 0.0
    if spending == "obrien-fleming":
        return float(2.0 * stats.norm.sf(stats.norm.isf(side / 2) / math.sqrt(t)))
    if spending == "pocock":
        return side * math.log(1.0 + (math.e - 1.0) * t)
    raise ValueError(f"unknown spending function {spending!r}; use obrien-fleming or pocock")


def _simpson(n: int) -> np.ndarray:
    weights = np.ones(n)
    weights[1:-1:2] = 4.0
    weights[2:-1:2] = 2.0
    return weights / 3.0


def _upper_boundary(grid: np.ndarray, mass: np.ndarray, sd: float, target: float) -> float:
    """The b at which paths continuing on `grid` (with `mass`) cross above b with chance
    `target` after an N(0, sd^2) step; infinite when even +12 sd spends less."""

    def upper_exit(b: float) -> float:
        return float(np.dot(mass, stats.norm.sf((b - grid) / sd)))

    high = float(grid[-1]) + _SPAN * sd
    if target <= 0 or upper_exit(high) >= target:
        return math.inf
    return float(optimize.brentq(lambda b: upper_exit(b) - target, 0.0, high, xtol=1e-10))


@lru_cache(maxsize=64)
def z_boundaries(
    looks: tuple[int, ...], alpha: float = ALPHA, spending: Spending = SPENDING
) -> tuple[float, ...]:
    """Two-sided symmetric z boundaries for looks after `looks` observations (increasing).

    Look k rejects when |Z_k| >= z_k with Z_k = S_k / sqrt(n_k), S_k a sum of n_k
    independent standard normals; z_k is chosen so that the chance of first crossing the
    upper boundary at look k is spent(n_k / n_K) - spent(n_{k-1} / n_K) (the lower
    boundary likewise). The density of S_k on the continuation region is carried from
    look to look on a grid (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000,
    ch. 19)."""
    if not looks or any(b <= a for a, b in itertools.pairwise(looks)) or looks[0] < 1:
        raise ValueError(f"looks must be increasing positive counts, got {looks!r}")
    total = looks[-1]
    bounds: list[float] = []
    # the running sum's density on the continuation region, as grid points and their
    # quadrature masses (density x Simpson weight)
    grid: np.ndarray | None = None
    mass = np.zeros(0)
    previous_n, previous_spent = 0, 0.0
    for n in looks:
        target = spent(n / total, alpha, spending) - previous_spent
        step = n - previous_n
        if grid is None:
            # first look: S_1 ~ N(0, n)
            b = float(stats.norm.isf(target)) * math.sqrt(n) if target > 0 else math.inf
        else:
            b = _upper_boundary(grid, mass, math.sqrt(step), target)
        z = b / math.sqrt(n)
        bounds.append(z)
        # the density of S_n on (-b, b), cut at +-_SPAN standard deviations, on a grid
        # fine against the next step's spread (one observation: sd 1)
        edge = min(b, _SPAN * math.sqrt(n))
        points = max(_GRID, 2 * math.ceil(edge / _STEP) + 1)
        new_grid = np.linspace(-edge, edge, points)
        new_weights = _simpson(points) * (new_grid[1] - new_grid[0])
        if grid is None:
            new_density = stats.norm.pdf(new_grid, scale=math.sqrt(n))
        else:
            sd = math.sqrt(step)
            kernel = stats.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
            new_density = kernel @ mass
        grid, mass = new_grid, new_weights * new_density
        # a look that could not spend its share (boundary beyond reach) leaves it to the next
        previous_spent += target if math.isfinite(b) else 0.0
        previous_n = n
    return tuple(bounds)


@lru_cache(maxsize=64)
def reference_values(
    n_start: int, n_max: int, alpha: float = ALPHA, spending: Spending = SPENDING
) -> dict[int, float]:
    """The z boundaries as Student-t multipliers by equal tail probability (n - 1 degrees
    of freedom; Jennison & Turnbull 2000, section 3.8). Close, but at 2-19 degrees of
    freedom each look spends about 10% more than its share (successive t statistics are
    less correlated than z statistics), so `critical_values` calibrates them."""
    _check_design(n_start, n_max)
    looks = tuple(range(n_start, n_max + 1))
    zs = z_boundaries(looks, alpha, spending)
    return {
        n: (float(stats.t.isf(stats.norm.sf(z), n - 1)) if math.isfinite(z) else math.inf)
        for n, z in zip(looks, zs, strict=True)
    }


def _check_design(n_start: int, n_max: int) -> None:
    if n_start < 2 or n_max < n_start:
        raise ValueError(f"need 2 <= n_start <= n_max, got n_start={n_start}, n_max={n_max}")


@lru_cache(maxsize=64)
def critical_values(
    n_start: int, n_max: int, alpha: float = ALPHA, spending: Spending = SPENDING
) -> dict[int, float]:
    """The t multiplier c_n of the repeated confidence interval mean +- c_n sd / sqrt(n)
    at each look n = n_start .. n_max.

    For normal differences the t statistics (mean - mu) sqrt(n) / sd of all looks have
    one joint law whatever mu and sigma, so it is simulated once: `_PATHS` sequences
    from a fixed seed (uniforms from PCG64 through the normal quantile, reproducible
    across numpy versions). At each look c_n is set so that the paths not stopped
    before that cross |t| >= c_n in the share the spending function gives that look
    (both sides together, aimed 3 simulation standard errors below alpha); where that share is under one path (the first looks of the
    O'Brien-Fleming design) the reference z-to-t value is used, and what it spends
    counts against the next look."""
    _check_design(n_start, n_max)
    reference = reference_values(n_start, n_max, alpha, spending)
    # aim 3 simulation standard errors below alpha, so that the simulation's own error
    # does not carry the true rate above alpha (about 4.87% for 5%)
    aim = 1.0 - 3.0 * math.sqrt((1.0 - alpha) / (alpha * _PATHS))
    rng = np.random.Generator(np.random.PCG64(_SEED))
    sums = np.zeros(_PATHS)
    squares = np.zeros(_PATHS)
    alive = np.ones(_PATHS, dtype=bool)
    stopped = 0
    values: dict[int, float] = {}
    for n in range(1, n_max + 1):
        x = special.ndtri(rng.random(_PATHS))
        sums += x
        squares += x * x
        if n < n_start:
            continue
        mean = sums / n
        sd = np.sqrt(np.clip((squares - n * mean * mean) / (n - 1), 1e-300, None))
        t_abs = np.abs(mean) * math.sqrt(n) / sd
        want = round(2 * spent(n / n_max, alpha, spending) * aim * _PATHS) - stopped
        live = t_abs[alive]
        if 1 <= want < live.size:
            # midway between the want-th and the (want+1)-th largest
            top = np.partition(live, (live.size - want - 1, live.size - want))
            c = float((top[live.size - want - 1] + top[live.size - want]) / 2)
        else:
            c = reference[n]
        crossed = alive & (t_abs >= c)
        stopped += int(crossed.sum())
        alive &= ~crossed
        values[n] = c
    return values


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One look at the paired differences (points).

    `ci_low`/`ci_high`: the repeated confidence interval at this look, valid with every
    other look of the design at once (not the plain t-interval); `critical`: its t
    multiplier. `more`: undecided with fewer than n_max pairs (add the next pair).
    Differences that are all equal (sd 0) give the interval [mean, mean]."""

    verdict: Verdict
    n_pairs: int
    mean_diff: float
    ci_low: float
    ci_high: float
    critical: float
    more: bool

    @property
    def interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def verdict_of(low: float, high: float, margin: float) -> Verdict:
    """better: the interval lies above 0; worse: below 0; equivalent: inside +-margin."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    if -margin < low and high < margin:
        return "equivalent"
    return "undecided"


def look(
    diffs: Sequence[float],
    *,
    n_start: int,
    n_max: int,
    margin: float,
    alpha: float = ALPHA,
    spending: Spending = SPENDING,
) -> Decision:
    """The decision after the first len(diffs) paired differences (n_start <= n <= n_max)."""
    n = len(diffs)
    if not n_start <= n <= n_max:
        raise ValueError(f"a look needs between {n_start} and {n_max} differences, got {n}")
    values = np.asarray(diffs, dtype=float)
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    c = critical_values(n_start, n_max, alpha, spending)[n]
    half = c * sd / math.sqrt(n) if sd > 0 else (math.inf if math.isinf(c) else 0.0)
    low, high = mean - half, mean + half
    verdict = verdict_of(low, high, margin)
    return Decision(
        verdict=verdict,
        n_pairs=n,
        mean_diff=mean,
        ci_low=low,
        ci_high=high,
        critical=c,
        more=verdict == "undecided" and n < n_max,
    )


def decide(
    diffs: Sequence[float],
    *,
    n_start: int,
    n_max: int,
    margin: float,
    alpha: float = ALPHA,
    spending: Spending = SPENDING,
) -> Decision:
    """The first deciding look among n = n_start .. len(diffs), else the last look.

    Looks are taken after every pair in order, so the answer depends only on the
    differences, not on when they arrived: pairs run beyond a decision (speculative
    seeds) do not change it, and a resumed sweep reaches the same decision with the
    same seeds. Differences beyond n_max are ignored."""
    if len(diffs) < n_start:
        raise ValueError(f"the first look needs {n_start} differences, got {len(diffs)}")
    last = None
    for n in range(n_start, min(len(diffs), n_max) + 1):
        last = look(
            diffs[:n], n_start=n_start, n_max=n_max, margin=margin, alpha=alpha, spending=spending
        )
        if last.verdict != "undecided":
            return last
    assert last is not None
    return last


VERDICTS: tuple[Verdict, ...] = ("undecided", "better", "worse", "equivalent")


def decide_many(
    diffs: np.ndarray,
    *,
    n_start: int,
    n_max: int,
    margin: float,
    alpha: float = ALPHA,
    spending: Spending = SPENDING,
) -> tuple[np.ndarray, np.ndarray]:
    """`decide` for many sequences at once (rows of `diffs`, n_max columns), for
    simulation: the index of each row's verdict in `VERDICTS` and the pairs it used."""
    values = np.asarray(diffs, dtype=float)[:, :n_max]
    if values.ndim != 2 or values.shape[1] != n_max:
        raise ValueError(f"diffs must have n_max={n_max} columns, got shape {values.shape}")
    rows = values.shape[0]
    critical = critical_values(n_start, n_max, alpha, spending)
    counts = np.arange(1, n_max + 1)
    sums = np.cumsum(values, axis=1)
    means = sums / counts
    squares = np.cumsum(values**2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        variances = (squares - counts * means**2) / (counts - 1)
    sds = np.sqrt(np.clip(variances, 0.0, None))
    verdict = np.zeros(rows, dtype=np.int8)
    used = np.full(rows, n_max)
    open_rows = np.ones(rows, dtype=bool)
    for n in range(n_start, n_max + 1):
        half = critical[n] * sds[:, n - 1] / math.sqrt(n)
        low, high = means[:, n - 1] - half, means[:, n - 1] + half
        code = np.select(
            [low > 0, high < 0, (low > -margin) & (high < margin)], [1, 2, 3], default=0
        )
        stop = open_rows & (code > 0)
        verdict[stop], used[stop] = code[stop], n
        open_rows &= ~stop
    return verdict, used


def seed_schedule(start: Sequence[int], n_max: int) -> tuple[int, ...]:
    """The seeds in the order they are paired: `start`, then max(start)+1, +2, ... up to
    n_max seeds in all."""
    following = range(max(start) + 1, max(start) + 1 + n_max - len(start))
    return (*start, *following)


@dataclass(frozen=True, kw_only=True)
class SeedStep:
    """What the driver does next for one (s3delta cell, baseline cell) pair.

    `verdict`, `interval` (points; None before the first look), `n_pairs` (the seeds
    the verdict used), `next_seed`: the seed to add to both cells, or None (decided,
    `max` reached, or the start seeds are not all finished)."""

    verdict: Verdict
    interval: tuple[float, float] | None
    n_pairs: int
    next_seed: int | None
    decision: Decision | None


def next_step(
    s3delta: Mapping[int, float],
    baseline: Mapping[int, float],
    *,
    start: Sequence[int],
    n_max: int,
    margin: float,
    scale: float = POINTS,
    alpha: float = ALPHA,
    spending: Spending = SPENDING,
) -> SeedStep:
    """The sequential comparison of two cells from their finished seeds (seed -> score).

    Pairs are taken in schedule order (`seed_schedule`) up to the first seed missing on
    either side, so seeds finishing out of order never change a look; differences are
    ``scale * (s3delta - baseline)`` points."""
    schedule = seed_schedule(start, n_max)
    diffs: list[float] = []
    for seed in schedule:
        if seed not in s3delta or seed not in baseline:
            break
        diffs.append(scale * (s3delta[seed] - baseline[seed]))
    if len(diffs) < len(start):
        return SeedStep(
            verdict="undecided", interval=None, n_pairs=len(diffs), next_seed=None, decision=None
        )
    decision = decide(
        diffs, n_start=len(start), n_max=n_max, margin=margin, alpha=alpha, spending=spending
    )
    following = schedule[decision.n_pairs] if decision.more else None
    return SeedStep(
        verdict=decision.verdict,
        interval=decision.interval,
        n_pairs=decision.n_pairs,
        next_seed=following,
        decision=decision,
    )
