"""Statistics of a paired difference (pure: numpy and scipy, no MLflow).

Why these tests: a sweep has few seeds (2-5), so the interval and the primary p-value
come from the t distribution of the mean paired difference (`scipy.stats.t`,
`scipy.stats.ttest_rel`), which is exact for normal differences at any n and the
usual choice at small n. The Wilcoxon signed-rank p (`scipy.stats.wilcoxon`, exact
or exhaustive-permutation for small n) is reported beside it as a robustness check
because it does not assume the differences are normal; with 3 pairs its smallest
possible two-sided p is 0.25, which is itself a reminder that 3 seeds decide little.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

TIE = 1e-9  # |difference| below this (in points) counts as a tie
CONFIDENCE = 0.95
T_TEST = "paired t-test (scipy.stats.ttest_rel)"
NAN = math.nan
NO_PAIRS = "no pairs"
ONE_PAIR = "n too small (1 pair): no interval or p-value"
NO_SPREAD = "every pair differs by the same amount: no spread, so no t-interval"
STATS_NOTES = (NO_PAIRS, ONE_PAIR, NO_SPREAD)


@dataclass(frozen=True, kw_only=True)
class PairedStats:
    """Mean paired difference, its t-interval, both p-values and wins/ties/losses."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    p_value: float  # paired t-test, two-sided
    wilcoxon_p: float  # Wilcoxon signed-rank, two-sided
    wins: int
    ties: int
    losses: int
    note: str = ""  # why an interval or p is missing ("n too small", ...)

    @property
    def decided(self) -> bool:
        """True when the interval excludes 0 (and exists)."""
        return not math.isnan(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)


def points(score: float) -> float:
    """A recorded score (0.8 = 80%, MCC 0.3) in points (x100)."""
    return 100.0 * score


def differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a - b per pair, rounded to 1e-9 so float noise (82.0-79.0 vs 3.0000000001) is no spread."""
    if len(a) != len(b):
        raise ValueError(
            f"paired samples differ in length ({len(a)} vs {len(b)}); pair by seed first"
        )
    return [round(x - y, 9) for x, y in zip(a, b, strict=True)]


def _wilcoxon(diffs: np.ndarray) -> float:
    if diffs.size == 0:
        return NAN
    if np.all(np.abs(diffs) < TIE):  # scipy warns and cannot rank all-zero differences
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.wilcoxon(diffs, zero_method="wilcox", method="auto").pvalue)


def paired_stats(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> PairedStats:
    """Statistics of a - b over pairs (a[i], b[i]); inputs in points.

    CI: mean ± t_{(1+c)/2, n-1} · sd/√n. With one pair, or differences that are all
    equal (no spread), the interval and the t-test p are NaN and ``note`` says why.
    """
    diffs = np.asarray(differences(a, b), dtype=float)
    n = int(diffs.size)
    mean = sd = ci_low = ci_high = p_value = wilcoxon_p = NAN
    note = NO_PAIRS if n == 0 else ""
    if n == 1:
        mean, note = float(diffs[0]), ONE_PAIR
    elif n > 1:
        mean, sd = float(diffs.mean()), float(diffs.std(ddof=1))
        wilcoxon_p = _wilcoxon(diffs)
        if sd == 0.0:
            note = NO_SPREAD
        else:
            half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
            ci_low, ci_high = mean - half, mean + half
            # ttest_rel on (d, 0) is ttest_rel(a, b) on the rounded differences
            p_value = float(stats.ttest_rel(diffs, np.zeros(n)).pvalue)
    wins, losses = int(np.sum(diffs >= TIE)), int(np.sum(diffs <= -TIE))
    return PairedStats(
        n=n,
        mean=mean,
        sd=sd,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        wilcoxon_p=wilcoxon_p,
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        note=note,
    )


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1; NaN with fewer than 2 values)."""
    if not values:
        return NAN, NAN
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else NAN


def accuracy_se_points(mean_points: float, n_test: int | None) -> float | None:
    """Standard error of one accuracy on n test examples, sqrt(p(1-p)/n), in points."""
    if n_test is None or n_test <= 0 or not 0.0 <= mean_points <= 100.0:
        return None
    p = mean_points / 100.0
    return 100.0 * math.sqrt(p * (1 - p) / n_test)
