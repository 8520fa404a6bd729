"""Which final trials of a sweep failed or never produced a run.

A report must render for a half-finished sweep and say what is missing rather than
quietly averaging over fewer seeds. The expected grid comes from the sweep's
``plan.json`` as the orchestrator writes it (``{"cells": [{"task", "method", "budget"
(null for budget-free methods, tagged "none"), "seeds": [...]}, ...]}``, see
`orchestrator.sweep.plan.Plan.to_dict`); a flat list of trials (objects with task,
method, budget, seed, optional phase) is accepted too. Otherwise the grid is inferred
as every observed (task, method-budget, seed) combination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from orchestrator.no_budget import budget_text

Trial = tuple[str, str, str, int]
CELL_FIELDS = ("task", "method", "budget", "seed")


@dataclass
class Gaps:
    """Failed runs, planned trials with no run, and where the expected grid came from."""

    failed: list[Trial] = field(default_factory=list)
    missing: list[Trial] = field(default_factory=list)
    source: str = "inferred"

    @property
    def empty(self) -> bool:
        return not self.failed and not self.missing

    def lines(self) -> list[str]:
        """Human-readable notes, one per failed or missing (task, method, budget) cell."""
        out = []
        for label, trials in (("failed", self.failed), ("missing", self.missing)):
            cells: dict[tuple[str, str, str], list[int]] = {}
            for task, method, budget, seed in trials:
                cells.setdefault((task, method, budget), []).append(seed)
            for (task, method, budget), seeds in sorted(cells.items()):
                out.append(f"{label}: {task} {method} budget {budget}, seeds {sorted(seeds)}")
        return out


def planned_trials(plan: Any) -> list[Trial] | None:
    """Final-phase trials listed in a plan.json payload, or None if it lists none."""
    if isinstance(plan, dict) and isinstance(plan.get("cells"), list):
        trials: list[Trial] = []
        for cell in plan["cells"]:
            if not isinstance(cell, dict) or not {"task", "method", "seeds"} <= set(cell):
                return None
            budget = budget_text(cell.get("budget"))
            trials += [
                (str(cell["task"]), str(cell["method"]), budget, int(s)) for s in cell["seeds"]
            ]
        return trials or None
    items = plan.get("trials") if isinstance(plan, dict) else plan
    if not isinstance(items, list):
        return None
    trials = []
    for item in items:
        if not isinstance(item, dict) or not all(k in item for k in CELL_FIELDS):
            return None
        if item.get("phase", "final") != "final":
            continue
        budget = budget_text(item["budget"])
        trials.append((str(item["task"]), str(item["method"]), budget, int(item["seed"])))
    return trials or None


def find_gaps(trials: pd.DataFrame, plan: Any = None) -> Gaps:
    """Failed and missing final trials of a sweep (``trials``: final phase rows)."""
    seen: dict[Trial, str] = {}
    for row in trials.itertuples(index=False):
        key = (str(row.task), str(row.method), str(row.budget), int(row.seed))
        # A retried trial counts as done if any attempt finished.
        if seen.get(key) != "FINISHED":
            seen[key] = str(row.status)
    expected = planned_trials(plan)
    source = "plan.json"
    if expected is None:
        source = "inferred"
        tasks = sorted({k[0] for k in seen})
        cells = sorted({(k[1], k[2]) for k in seen})
        seeds = sorted({k[3] for k in seen})
        expected = [(t, m, b, s) for t in tasks for m, b in cells for s in seeds]
    failed = sorted(k for k, status in seen.items() if status not in ("FINISHED", "RUNNING"))
    missing = sorted(k for k in set(expected) if k not in seen)
    return Gaps(failed=failed, missing=missing, source=source)
