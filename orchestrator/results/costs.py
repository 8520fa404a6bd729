"""What a sweep cost: per cell, in total, and per point the search gained over random.

Read from the trial runs' ``cost_*`` metrics (`workers.cost`, logged by the runner on
every trial run, finished or ended early), so a resumed sweep counts the trials of
earlier drivers too. A key rerun after a crash reuses its run, which then holds the
cost of its last attempt.

- Cell cost: sums over every trial run of the cell (tuning and final phases, pruned and
  failed trials included: they used the machine too) of CPU-seconds, GPU-seconds and
  wall seconds; the search part of the CPU-seconds; the largest peak memory.
- Sweep total: the sums over the cells (so cells add up to the sweep, and trials to cells).
- Cost per point over random, per task and budget: (CPU-seconds of the s3delta cell -
  those of the random cell at the same task and budget) / mean paired gain of s3delta over
  random in points (`orchestrator.results.comparison`). That is what the search bought. No gain
  (a difference <= 0) has no cost per point: it is left empty and says so. Pooled over
  tasks per budget with the pooled paired gain where the comparison has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from orchestrator.results.comparison_types import Comparison
from orchestrator.results.text import aligned, plain

KEYS = ["task", "method", "budget"]
# summed per cell and sweep: trial metric -> cell figure
SUMMED = {
    "cost_cpu_s": "cpu_s",
    "cost_gpu_s": "gpu_s",
    "cost_wall_s": "wall_s",
    "cost_cpu_search_steps_s": "search_cpu_s",
    "cost_cpu_retrain_steps_s": "retrain_cpu_s",
    "cost_cpu_evaluation_s": "evaluation_cpu_s",
}
PEAKS = {"cost_peak_rss_mb": "peak_rss_mb", "cost_peak_gpu_mb": "peak_gpu_mb"}
TOTAL_FIGURES = ("cpu_s", "gpu_s", "wall_s", "search_cpu_s", "n_trials")


@dataclass
class PerPoint:
    """What the search cost per point of gain over random at one task (or pooled) and budget."""

    task: str  # "pooled" for the row over every task with both cells
    budget: str
    searched_cpu_s: float
    random_cpu_s: float
    gain_points: float  # mean paired difference s3delta - random, points
    n_pairs: int

    @property
    def extra_cpu_s(self) -> float:
        return self.searched_cpu_s - self.random_cpu_s

    @property
    def cpu_s_per_point(self) -> float:
        """Extra CPU-seconds per point gained; NaN when nothing was gained."""
        if not self.gain_points > 0:
            return math.nan
        return self.extra_cpu_s / self.gain_points

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "budget": self.budget,
            "searched_cpu_s": self.searched_cpu_s,
            "random_cpu_s": self.random_cpu_s,
            "extra_cpu_s": self.extra_cpu_s,
            "gain_points": self.gain_points,
            "n_pairs": self.n_pairs,
            "cpu_s_per_point": plain(self.cpu_s_per_point),
        }


@dataclass
class SweepCosts:
    """Per-cell costs (a table), the sweep's total, and the cost per point over random."""

    cells: pd.DataFrame
    total: dict[str, float]
    per_point: list[PerPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells": [
                {k: plain(v) for k, v in row.items()} for row in self.cells.to_dict("records")
            ],
            "total": {k: plain(v) for k, v in self.total.items()},
            "per_point_over_random": [p.to_dict() for p in self.per_point],
        }


def cell_costs(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: n_trials (runs with a recorded cost), the summed figures, the peaks.

    ``trials``: `Client.trials(sweep, phase=None)` (every phase and status)."""
    columns = [*KEYS, "n_trials", *SUMMED.values(), *PEAKS.values()]
    if trials.empty or "cost_cpu_s" not in trials:
        return pd.DataFrame(columns=columns)
    costed = trials[trials["cost_cpu_s"].notna()]
    rows = []
    for key, cell in costed.groupby(KEYS, sort=True):
        row: dict[str, Any] = dict(zip(KEYS, (str(k) for k in key), strict=True))
        row["n_trials"] = len(cell)
        for metric, figure in SUMMED.items():
            row[figure] = float(cell[metric].fillna(0.0).sum()) if metric in cell else 0.0
        for metric, figure in PEAKS.items():
            peak = cell[metric].max() if metric in cell else math.nan
            row[figure] = float(peak) if pd.notna(peak) else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def sweep_total(cells: pd.DataFrame) -> dict[str, float]:
    """The sums over the cells (and the largest peak memory of any cell)."""
    total = {name: float(cells[name].sum()) if not cells.empty else 0.0 for name in TOTAL_FIGURES}
    for figure in PEAKS.values():
        peak = cells[figure].max() if not cells.empty else math.nan
        total[figure] = float(peak) if pd.notna(peak) else math.nan
    return total


def per_point(
    cells: pd.DataFrame, comparison: Comparison | None, searched: str, random: str
) -> list[PerPoint]:
    """Cost per point over random for every task and budget the comparison pairs."""
    if comparison is None or cells.empty:
        return []
    cpu = {(r["task"], r["method"], r["budget"]): r["cpu_s"] for r in cells.to_dict("records")}
    out = []
    for row in comparison.cells(random):
        pair = (cpu.get((row.task, searched, row.budget)), cpu.get((row.task, random, row.budget)))
        if pair[0] is None or pair[1] is None:
            continue
        out.append(
            PerPoint(row.task, row.budget, pair[0], pair[1], row.mean_diff_points, row.n_pairs)
        )
    for pooled in comparison.pooled():
        if pooled.baseline != random:
            continue
        parts = [p for p in out if p.budget == pooled.budget and p.task in pooled.tasks]
        if len(parts) < 2:
            continue
        out.append(
            PerPoint(
                "pooled",
                pooled.budget,
                sum(p.searched_cpu_s for p in parts),
                sum(p.random_cpu_s for p in parts),
                pooled.mean_diff_points,
                pooled.n_pairs,
            )
        )
    return out


def sweep_costs(
    trials: pd.DataFrame, comparison: Comparison | None, searched: str, random: str
) -> SweepCosts:
    """Cells, total and cost per point of a sweep's trial table and paired comparison."""
    cells = cell_costs(trials)
    return SweepCosts(cells, sweep_total(cells), per_point(cells, comparison, searched, random))


def cost_text(costs: SweepCosts) -> str:
    """The cost tables as `s3delta results` prints them."""
    if costs.cells.empty:
        return "Cost: no trial recorded its cost (trials from before cost accounting)."
    header = ["task", "method", "budget", "trials", "CPU-s", "search CPU-s", "GPU-s", "wall s"]
    header.append("peak RSS MiB")
    rows = [
        [
            str(r["task"]),
            str(r["method"]),
            str(r["budget"]),
            str(int(r["n_trials"])),
            f"{r['cpu_s']:,.1f}",
            f"{r['search_cpu_s']:,.1f}",
            f"{r['gpu_s']:,.1f}",
            f"{r['wall_s']:,.1f}",
            "-" if pd.isna(r["peak_rss_mb"]) else f"{r['peak_rss_mb']:,.0f}",
        ]
        for r in costs.cells.to_dict("records")
    ]
    t = costs.total
    rows.append(
        [
            "total",
            "",
            "",
            str(int(t["n_trials"])),
            f"{t['cpu_s']:,.1f}",
            f"{t['search_cpu_s']:,.1f}",
            f"{t['gpu_s']:,.1f}",
            f"{t['wall_s']:,.1f}",
            "-" if pd.isna(t["peak_rss_mb"]) else f"{t['peak_rss_mb']:,.0f}",
        ]
    )
    lines = [
        "Cost per cell (every trial run of the cell: tuning and final, pruned and failed "
        "included; CPU-s = process CPU time, all threads):",
        "",
        *aligned(header, rows, left=3),
    ]
    if costs.per_point:
        lines += [
            "",
            "What the search bought (extra CPU-s of s3delta over random per point gained):",
        ]
        head = ["task", "budget", "extra CPU-s", "gain (points)", "pairs", "CPU-s per point"]
        body = [
            [
                p.task,
                p.budget,
                f"{p.extra_cpu_s:,.1f}",
                f"{p.gain_points:+.2f}",
                str(p.n_pairs),
                "no gain" if math.isnan(p.cpu_s_per_point) else f"{p.cpu_s_per_point:,.1f}",
            ]
            for p in costs.per_point
        ]
        lines += aligned(head, body, left=2)
    return "\n".join(lines)


def cost_metrics(costs: SweepCosts, metric_part: Any) -> dict[str, float]:
    """Metrics of the sweep run: ``cost/total/<figure>``, ``cost/<task>/<budget>/cpu_s_per_point``
    (and extra_cpu_s, gain_points); the per-cell figures go through `orchestrator.runner.summary`."""
    values = {f"cost/total/{k}": float(v) for k, v in costs.total.items() if pd.notna(v)}
    for p in costs.per_point:
        prefix = f"cost/{metric_part(p.task)}/{metric_part(p.budget)}"
        values[f"{prefix}/extra_cpu_s"] = p.extra_cpu_s
        values[f"{prefix}/gain_points"] = p.gain_points
        if not math.isnan(p.cpu_s_per_point):
            values[f"{prefix}/cpu_s_per_point"] = p.cpu_s_per_point
    return values
