"""The records of a paired comparison (pure dataclasses; built by `orchestrator.results.comparison`).

Scores and differences are in points (recorded score x 100: accuracy 0.8 -> 80.0,
MCC 0.3 -> 30.0). A row compares ``method`` at ``budget`` with ``baseline`` on the
seeds both ran; a pooled row (``pooled=True``, ``task="pooled"``) does the same over
the (task, seed) pairs of several tasks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.results.paired import T_TEST

DECIDING_PAIRS = 5  # fewer pairs than this: the comparison is called too small to decide


@dataclass(frozen=True, kw_only=True)
class SeedScore:
    """One finished final run: its test score (as recorded, 0.8 = 80%) and what it rests on."""

    task: str
    method: str
    budget: str  # as written in the sweep, "none" for budget-free methods
    seed: int
    score: float
    n_test: int | None = None
    delta_params: float | None = None
    backbone_params: float | None = None
    accuracy_only: bool = False  # the task's score is accuracy alone (an SE is computable)
    test_capped: bool = False  # the test split was cut by max_eval_examples (a smoke run)


@dataclass(frozen=True, kw_only=True)
class MissingPair:
    """A seed one side of a comparison ran and the other did not (or not to the end)."""

    task: str
    budget: str
    seed: int
    lacking: str  # the method with no finished run for this seed

    def text(self) -> str:
        return f"{self.task} {self.budget} seed {self.seed}: no finished {self.lacking} run"


@dataclass(frozen=True, kw_only=True)
class PairedComparison:
    """``method`` minus ``baseline`` on shared seeds: mean, 95% t-interval, tests, W/T/L."""

    task: str
    budget: str
    method: str
    baseline: str
    baseline_budget: str  # "none" for budget-free baselines (manual, finetune)
    n_pairs: int
    seeds: tuple[int, ...]  # the paired seeds (per-task rows)
    diffs: tuple[float, ...]  # per pair, points
    mean_diff_points: float
    ci_low: float
    ci_high: float
    p_value: float
    wilcoxon_p: float
    wins: int
    ties: int
    losses: int
    a_mean: float  # over the paired seeds (so a_mean - b_mean = mean_diff_points)
    a_std: float
    b_mean: float
    b_std: float
    method_mean: float  # over every finished seed of the method in this cell
    method_std: float
    method_seeds: int
    n_test: int | None
    score_se_points: float | None  # SE of one score, sqrt(p(1-p)/n), accuracy only
    pct_of_finetune: float | None  # method's mean as % of fine-tuning's, same seeds
    a_params: float | None  # mean trainable delta parameters
    b_params: float | None
    missing: tuple[MissingPair, ...] = ()
    test: str = T_TEST
    pooled: bool = False
    tasks: tuple[str, ...] = ()
    note: str = ""
    # seeds until decided (a sweep with ``seeds: {until: decided}``), from the s3delta
    # cell's run: better/worse/equivalent/undecided, the seeds it used, and the repeated
    # (group-sequential) 95% interval in points, kept apart from the t-interval above
    verdict: str | None = None
    seeds_used: int | None = None
    seq_ci_low: float | None = None
    seq_ci_high: float | None = None

    @property
    def missing_seeds(self) -> tuple[int, ...]:
        return tuple(sorted({m.seed for m in self.missing}))

    @property
    def decided(self) -> bool:
        """Enough pairs and an interval that excludes 0."""
        if self.n_pairs < DECIDING_PAIRS or math.isnan(self.ci_low):
            return False
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN -> None, missing pairs as text."""
        data = asdict(self)
        data["missing"] = [m.text() for m in self.missing]
        data["decided"] = self.decided
        return {k: _plain(v) for k, v in data.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Every row of a sweep's comparison, the primary baseline first, pooled rows last."""

    method: str
    baseline: str
    rows: tuple[PairedComparison, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def cells(self, baseline: str | None = None) -> list[PairedComparison]:
        """Per-task rows (of one baseline if given)."""
        return [r for r in self.rows if not r.pooled and baseline in (None, r.baseline)]

    def pooled(self) -> list[PairedComparison]:
        return [r for r in self.rows if r.pooled]

    def undecided(self) -> list[PairedComparison]:
        """Per-task rows against the primary baseline that cannot say which side is better."""
        return [r for r in self.cells(self.baseline) if not r.decided]

    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]
