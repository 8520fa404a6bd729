"""Build the paired comparison of a sweep from per-seed scores (pure: no MLflow).

Per task and budget the searched method is paired by seed with ``random`` at the same
budget and with every budget-free baseline (manual structures, fine-tuning) of that
task; only runs that share a seed are paired, the others are listed as missing.
Pooled rows pool over tasks, one unit per (task, seed) pair: one row per budget (when
at least two tasks have it) and one for every budget at or below 0.01% of the backbone
(absolute budgets converted with the recorded backbone size). Differences on different
tasks are on different metric scales (accuracy, MCC, Pearson ...), all in points x100,
so a pooled mean says "on average over these tasks", not "on one scale".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.no_budget import NO_BUDGET as NONE
from orchestrator.results.comparison_types import (
    Comparison,
    MissingPair,
    PairedComparison,
    SeedScore,
)
from orchestrator.results.paired import (
    PairedStats,
    accuracy_se_points,
    differences,
    mean_std,
    paired_stats,
    points,
)
from search_space.budget import BudgetError, parse_budget
from workers.methods import FINETUNE_METHOD as FINETUNE
from workers.methods import RANDOM_METHOD, SEARCHED_METHOD

LOW_BUDGET_PCT = 0.01
POOLED = "pooled"
LOW_MARK = "≤"
BudgetKey = tuple[int, float, str]  # (0 relative | 1 absolute | 2 other, value, text)
Runs = dict[int, SeedScore]  # seed -> run


def budget_key(text: str) -> BudgetKey:
    """Budgets that parse alike are one budget ("2e4" == "20000"); sorts relative first."""
    try:
        spec = parse_budget(text)
    except BudgetError:
        return (2, 0.0, text.strip())
    return (0 if spec.kind == "relative" else 1, spec.value, "")


@dataclass
class _Unit:
    """One (task, seed) pair of a pooled row."""

    task: str
    seed: int
    a: float
    b: float


def _baseline_order(methods: set[str], method: str, baseline: str) -> list[str]:
    others = sorted(m for m in methods if m not in (method, baseline, RANDOM_METHOD, FINETUNE))
    order = [baseline, RANDOM_METHOD, *others, FINETUNE]
    return list(dict.fromkeys(m for m in order if m in methods and m != method))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def _n_test(runs: list[SeedScore]) -> tuple[int | None, str]:
    sizes = sorted({r.n_test for r in runs if r.n_test is not None})
    if len(sizes) > 1:
        return sizes[0], f"test sizes differ between runs ({sizes}); the smallest is shown"
    return (sizes[0] if sizes else None), ""


def _pct(a: list[float], ft: list[float]) -> float | None:
    """Mean of a as a percentage of the mean of ft (paired values, points)."""
    if not a or sum(ft) <= 0:
        return None
    return 100.0 * sum(a) / sum(ft)


def _row(
    task: str,
    budget: str,
    method: str,
    baseline: str,
    baseline_budget: str,
    a_runs: Runs,
    b_runs: Runs,
    ft_runs: Runs,
) -> PairedComparison:
    """One per-task row: pair a_runs and b_runs by seed."""
    seeds = tuple(sorted(set(a_runs) & set(b_runs)))
    missing = [MissingPair(task=task, budget=budget, seed=s, lacking=baseline) for s in a_runs]
    missing = [m for m in missing if m.seed not in b_runs]
    missing += [
        MissingPair(task=task, budget=budget, seed=s, lacking=method)
        for s in b_runs
        if s not in a_runs
    ]
    a = [points(a_runs[s].score) for s in seeds]
    b = [points(b_runs[s].score) for s in seeds]
    result = paired_stats(a, b)
    everything = [points(r.score) for r in a_runs.values()]
    a_mean, a_std = mean_std(a or everything)
    b_mean, b_std = mean_std(b or [points(r.score) for r in b_runs.values()])
    method_mean, method_std = mean_std(everything)
    n_test, size_note = _n_test(list(a_runs.values()))
    accuracy = bool(a_runs) and all(r.accuracy_only for r in a_runs.values())
    ft_seeds = sorted(set(a_runs) & set(ft_runs))
    pct = _pct(
        [points(a_runs[s].score) for s in ft_seeds], [points(ft_runs[s].score) for s in ft_seeds]
    )
    return PairedComparison(
        task=task,
        budget=budget,
        method=method,
        baseline=baseline,
        baseline_budget=baseline_budget,
        seeds=seeds,
        **_stat_fields(result, a, b),
        a_mean=a_mean,
        a_std=a_std,
        b_mean=b_mean,
        b_std=b_std,
        method_mean=method_mean,
        method_std=method_std,
        method_seeds=len(everything),
        n_test=n_test,
        score_se_points=accuracy_se_points(method_mean, n_test) if accuracy else None,
        pct_of_finetune=pct,
        a_params=_mean(r.delta_params for r in a_runs.values()),
        b_params=_mean(r.delta_params for r in b_runs.values()),
        missing=tuple(sorted(missing, key=lambda m: (m.seed, m.lacking))),
        note="; ".join(n for n in (result.note, size_note) if n),
    )


def _stat_fields(result: PairedStats, a: list[float], b: list[float]) -> dict[str, Any]:
    """The `PairedComparison` fields that come straight from the paired statistics."""
    return {
        "n_pairs": result.n,
        "diffs": tuple(differences(a, b)),
        "mean_diff_points": result.mean,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "p_value": result.p_value,
        "wilcoxon_p": result.wilcoxon_p,
        "wins": result.wins,
        "ties": result.ties,
        "losses": result.losses,
    }


def _pooled_row(
    budget: str,
    method: str,
    baseline: str,
    rows: list[PairedComparison],
    units: list[_Unit],
    ft_units: list[_Unit],
) -> PairedComparison:
    """A row over the (task, seed) units of several tasks' rows."""
    a, b = [u.a for u in units], [u.b for u in units]
    result = paired_stats(a, b)
    return PairedComparison(
        task=POOLED,
        budget=budget,
        method=method,
        baseline=baseline,
        baseline_budget=rows[0].baseline_budget,
        seeds=(),
        **_stat_fields(result, a, b),
        a_mean=mean_std(a)[0],
        a_std=math.nan,  # a std over tasks would mix task difficulty into it
        b_mean=mean_std(b)[0],
        b_std=math.nan,
        method_mean=mean_std(a)[0],
        method_std=math.nan,
        method_seeds=len(a),
        n_test=None,
        score_se_points=None,
        pct_of_finetune=_pct([u.a for u in ft_units], [u.b for u in ft_units]),
        a_params=None,
        b_params=None,
        missing=tuple(m for r in rows for m in r.missing),
        pooled=True,
        tasks=tuple(sorted({u.task for u in units})),
        note=result.note,
    )


def _relative_pct(key: BudgetKey, runs: Runs) -> float | None:
    """A budget as % of the backbone; absolute ones need a recorded backbone size."""
    if key[0] == 0:
        return key[1]
    backbone = _mean(r.backbone_params for r in runs.values())
    if key[0] == 1 and backbone:
        return 100.0 * key[1] / backbone
    return None


def _units(triples: list[tuple[str, Runs, Runs]]) -> list[_Unit]:
    """One unit per (task, seed) paired in any triple; a (task, seed) paired at several
    budgets (the <= 0.01% pool) is averaged over them first, so each counts once."""
    grouped: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for task, a_runs, b_runs in triples:
        for seed in sorted(set(a_runs) & set(b_runs)):
            grouped[(task, seed)].append((points(a_runs[seed].score), points(b_runs[seed].score)))
    return [
        _Unit(
            task, seed, sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs)
        )
        for (task, seed), pairs in sorted(grouped.items())
    ]


class _Builder:
    """Rows of one comparison; holds the runs by (task, method, budget key)."""

    def __init__(self, scores: Iterable[SeedScore], method: str, baseline: str) -> None:
        self.runs: dict[tuple[str, str, BudgetKey], Runs] = defaultdict(dict)
        self.text: dict[tuple[str, str, BudgetKey], str] = {}
        for score in scores:
            key = (score.task, score.method, budget_key(score.budget))
            self.runs[key][score.seed] = score
            self.text.setdefault(key, score.budget)
        self.method, self.none = method, budget_key(NONE)
        self.methods = {m for _, m, _ in self.runs}
        self.baselines = _baseline_order(self.methods, method, baseline)
        self.budgets_of = {m: {k for _, n, k in self.runs if n == m} for m in self.methods}
        self.cells: dict[tuple[str, str, str], tuple[Runs, Runs]] = {}
        self.notes: list[str] = []

    def finetune(self, task: str) -> Runs:
        return self.runs.get((task, FINETUNE, self.none), {})

    def per_task(self) -> list[PairedComparison]:
        rows = []
        searched = sorted((t, k) for t, m, k in self.runs if m == self.method)
        for task, key in searched:
            a_runs = self.runs[(task, self.method, key)]
            budget = self.text[(task, self.method, key)]
            for base in self.baselines:
                b_key = self.none if self.budgets_of[base] == {self.none} else key
                if b_key not in self.budgets_of[base]:
                    continue  # e.g. random never ran at this budget
                b_runs = self.runs.get((task, base, b_key), {})
                b_budget = self.text.get(
                    (task, base, b_key), NONE if b_key == self.none else budget
                )
                args = (task, budget, self.method, base, b_budget, a_runs, b_runs)
                rows.append(_row(*args, self.finetune(task)))
                self.cells[(task, budget, base)] = (a_runs, b_runs)
        return rows

    def pooled(self, rows: list[PairedComparison], budget: str) -> list[PairedComparison]:
        """One pooled row per baseline over ``rows`` (already one budget or the low pool)."""
        out = []
        for base in self.baselines:
            group = [r for r in rows if r.baseline == base]
            if len({r.task for r in group if r.n_pairs}) < 2:
                continue  # a pool of one task would repeat that task's row
            triples = [(r.task, *self.cells[(r.task, r.budget, base)]) for r in group]
            ft = [
                (r.task, self.cells[(r.task, r.budget, base)][0], self.finetune(r.task))
                for r in group
            ]
            out.append(_pooled_row(budget, self.method, base, group, _units(triples), _units(ft)))
        return out

    def low_budget_rows(self, rows: list[PairedComparison], limit: float) -> list[PairedComparison]:
        """Rows whose budget is at most ``limit`` % of the backbone (absolute ones converted)."""
        low = []
        for row in rows:
            key = budget_key(row.budget)
            pct = _relative_pct(key, self.runs[(row.task, self.method, key)])
            if pct is None:
                note = (
                    f"{row.task} budget {row.budget}: no backbone_params recorded, "
                    f"left out of the <= {limit:g}% pool"
                )
                if note not in self.notes:
                    self.notes.append(note)
            elif pct <= limit * (1 + 1e-9):
                low.append(row)
        return low


def compare_scores(
    scores: Iterable[SeedScore],
    *,
    method: str = SEARCHED_METHOD,
    baseline: str = RANDOM_METHOD,
    low_budget_pct: float = LOW_BUDGET_PCT,
) -> Comparison:
    """Every per-task, per-budget row of ``method`` against its baselines, then pooled rows."""
    scores = list(scores)
    build = _Builder(scores, method, baseline)
    if method not in build.methods:
        note = f"no finished {method} final runs: nothing to compare (ran: {sorted(build.methods)})"
        return Comparison(method=method, baseline=baseline, rows=(), notes=(note,))
    rows = build.per_task()
    pooled: list[PairedComparison] = []
    for key in sorted({budget_key(r.budget) for r in rows}):
        same = [r for r in rows if budget_key(r.budget) == key]
        pooled += build.pooled(same, same[0].budget)
    low = build.low_budget_rows(rows, low_budget_pct)
    if len({(r.task, r.budget) for r in low}) >= 2:
        pooled += build.pooled(low, f"{LOW_MARK}{low_budget_pct:g}%")
    notes = build.notes
    if pooled:
        notes.append(
            "pooled rows: one unit per (task, seed) pair (averaged over budgets in the "
            f"{LOW_MARK}{low_budget_pct:g}% row), t-interval over the units; tasks score on "
            "different metrics (accuracy, MCC, Pearson ...), all in points x100"
        )
    capped = sorted({f"{s.task} ({s.n_test})" for s in scores if s.test_capped})
    if capped:
        notes.append(
            "test sets capped by max_eval_examples in " + ", ".join(capped) + ": a smoke "
            "run, not official test scores; evidence runs leave max_eval_examples unset"
        )
    if build.baselines and build.baselines[0] != baseline:
        notes.append(
            f"baseline {baseline!r} has no finished runs in this sweep; the rows compare "
            f"{method} with {', '.join(build.baselines)}"
        )
    return Comparison(
        method=method, baseline=baseline, rows=tuple(rows + pooled), notes=tuple(notes)
    )
