"""The plan of a sweep: which cells run, how many Optuna trials each, how many final seeded runs.

Protocol: per (task, method, budget) cell, Optuna tunes the search-space fields on
the dev score with the first seed; the best configuration then runs on every seed
and is reported on the test half. Methods that do not use a budget (manual/*,
finetune) form one cell per task. Every cell gets the same number of tuning trials,
so baselines are tuned as hard as s3delta.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from orchestrator.no_budget import budget_text
from orchestrator.paths import redact_url
from workers.methods import SEARCHED_METHOD, applies_to

if TYPE_CHECKING:
    from orchestrator.sweep.config import SweepConfig


@dataclass(frozen=True)
class Cell:
    """One (task, method, budget) combination; `budget` is None for budget-free methods."""

    task: str
    method: str
    budget: str | None
    n_tune_trials: int
    seeds: tuple[int, ...]
    tuned_params: tuple[str, ...]
    # one search, every budget: the budget whose search this cell re-solves (no tuning, no
    # search of its own; orchestrator.sweep.one_search); None = the cell runs its own
    source_budget: str | None = None
    # transfer/<task>: the task whose s3delta cell at the same budget this cell retrains
    source_task: str | None = None

    @property
    def source_ident(self) -> tuple[str, str, str | None] | None:
        """(task, method, budget) of the cell this one takes its structures from, or None."""
        if self.source_task is not None:
            return (self.source_task, SEARCHED_METHOD, self.source_budget)
        if self.source_budget is not None:
            return (self.task, self.method, self.source_budget)
        return None

    @property
    def derived_as(self) -> str | None:
        """How the cell takes its structures: ``transfer``, ``one_search`` or None."""
        if self.source_task is not None:
            return "transfer"
        return "one_search" if self.source_budget is not None else None

    @property
    def budget_text(self) -> str:
        """The budget as stored in tags, keys and names: the sweep's text, or ``none``."""
        return budget_text(self.budget)

    @property
    def ident(self) -> tuple[str, str, str]:
        """(task, method, budget text): the cell's identity in MLflow (its cell run's tags)."""
        return (self.task, self.method, self.budget_text)

    @property
    def key(self) -> str:
        """Unique, stable id of the cell, as shown in plan.json and messages."""
        return "|".join(self.ident)

    @property
    def tune_seed(self) -> int:
        """Seed of the tuning trials: the first of the sweep's seeds."""
        return self.seeds[0]

    @property
    def n_final_runs(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "task": self.task,
            "method": self.method,
            "budget": self.budget,
            "n_tune_trials": self.n_tune_trials,
            "tune_seed": self.tune_seed,
            "seeds": list(self.seeds),
            "n_final_runs": self.n_final_runs,
            "tuned_params": list(self.tuned_params),
            "source_budget": self.source_budget,
            "source_task": self.source_task,
        }


@dataclass(frozen=True)
class Plan:
    """All cells of a sweep with trial totals and notes on how the cells were formed."""

    name: str
    model: str
    cells: tuple[Cell, ...]
    sampler: str
    objective: str
    trials_per_cell: int
    pruning: str
    notes: tuple[str, ...]

    @property
    def tuning_trials(self) -> int:
        return sum(cell.n_tune_trials for cell in self.cells)

    @property
    def final_runs(self) -> int:
        return sum(cell.n_final_runs for cell in self.cells)

    @property
    def total_trials(self) -> int:
        """Upper bound on trials started (pruned tuning trials stop early but still count)."""
        return self.tuning_trials + self.final_runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "sampler": self.sampler,
            "objective": self.objective,
            "trials_per_cell": self.trials_per_cell,
            "pruning": self.pruning,
            "cells": [cell.to_dict() for cell in self.cells],
            "totals": {
                "cells": len(self.cells),
                "tuning_trials": self.tuning_trials,
                "final_runs": self.final_runs,
                "total_trials": self.total_trials,
            },
            "notes": list(self.notes),
        }

    def render(self, width: int = 120) -> str:
        """A plain-text table of the cells followed by totals and notes."""
        table = Table(title=f"sweep {self.name}: {self.model}", title_justify="left")
        for header in ("#", "task", "method", "budget", "tune trials", "final seeds", "tuned"):
            table.add_column(header, overflow="fold")
        for index, cell in enumerate(self.cells, start=1):
            table.add_row(
                str(index),
                cell.task,
                cell.method,
                cell.budget_text,
                str(cell.n_tune_trials),
                ", ".join(str(seed) for seed in cell.seeds),
                ", ".join(cell.tuned_params) or _source_text(cell),
            )
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
        console.print(table)
        console.print(
            f"cells: {len(self.cells)}   tuning trials: {self.tuning_trials}   "
            f"final runs: {self.final_runs}   estimated trials: {self.total_trials}"
        )
        console.print(f"optuna: {self.sampler} sampler, objective {self.objective}; {self.pruning}")
        for note in self.notes:
            console.print(f"- {note}", highlight=False)
        return buffer.getvalue()


def _source_text(cell: Cell) -> str:
    if cell.source_task is not None:
        return f"(structures of {cell.source_task})"
    return f"(search at {cell.source_budget})" if cell.source_budget else "-"


def build_plan(sweep: SweepConfig) -> Plan:
    """Expand a validated sweep into cells: task-major, then method, then budget."""
    tunable = [name for name, dist in sweep.search_space.items() if dist.is_tuned]
    seeds = tuple(sweep.seeds)
    cells = []
    for task in sweep.tasks:
        for method in sweep.parsed_methods:
            tuned = tuple(name for name in tunable if applies_to(name, method))
            n_tune = sweep.optuna.trials_per_cell if tuned else 0
            budgets: list[str | None] = list(sweep.budgets) if method.uses_budget else [None]
            if method.spec.transfers:  # retrains the s3delta structures of its source task
                if method.arg != task:  # (on its own task that is s3delta itself: no cell)
                    cells += [
                        Cell(task, method.name, b, 0, seeds, (), b, source_task=method.arg)
                        for b in budgets
                    ]
                continue
            for budget in budgets:
                source = sweep.one_search_at if method.spec.one_search else None
                if source is None or budget == source:
                    cells.append(Cell(task, method.name, budget, n_tune, seeds, tuned))
                else:  # re-solves the search at `source`: nothing of its own to tune
                    cells.append(Cell(task, method.name, budget, 0, seeds, (), source))
    pruning = (
        f"ASHA pruning of tuning trials on dev scores from step {sweep.pruning.min_steps}, "
        f"reduction factor {sweep.pruning.reduction_factor}"
        if sweep.pruning.enabled
        else "no pruning"
    )
    return Plan(
        name=sweep.sweep_name,
        model=sweep.model,
        cells=tuple(cells),
        sampler=sweep.optuna.sampler,
        objective=sweep.optuna.objective,
        trials_per_cell=sweep.optuna.trials_per_cell,
        pruning=pruning,
        notes=tuple(_notes(sweep, cells)),
    )


def _notes(sweep: SweepConfig, cells: list[Cell]) -> list[str]:
    methods = sweep.parsed_methods
    free = [m.name for m in methods if not m.uses_budget]
    budgeted = [m.name for m in methods if m.uses_budget]
    seeds = ", ".join(str(seed) for seed in sweep.seeds)
    notes = [
        f"per cell: {sweep.optuna.trials_per_cell} Optuna trials tune the search-space fields that "
        f"affect its method (column 'tuned') on the dev score with seed {sweep.seeds[0]}; "
        "the best configuration then runs on "
        f"seeds {seeds} and is reported on the test half"
    ]
    sequential = sweep.sequential_seeds
    if sequential is not None:
        notes.append(
            f"seeds until decided: each s3delta cell and its {sequential.baseline} cell start "
            f"with seeds {seeds} and add seeds in pairs, up to {sequential.max} each, until "
            f"s3delta is shown better, worse, or within +-{sequential.margin:g} points of "
            f"{sequential.baseline}; final runs above count the start seeds only (at most "
            f"{sequential.max} per paired cell)"
        )
    if free and budgeted:
        notes.append(
            f"{', '.join(free)} use no budget: one cell per task (budgets "
            f"{', '.join(sweep.budgets)} apply to {', '.join(budgeted)})"
        )
    elif free:
        notes.append(f"{', '.join(free)} use no budget: one cell per task")
    if sweep.budgets and not budgeted:
        notes.append(
            f"budgets {', '.join(sweep.budgets)} are unused: no method searches under a budget"
        )
    untuned = sorted(
        {cell.method for cell in cells if cell.n_tune_trials == 0 and cell.derived_as is None}
    )
    if untuned:
        notes.append(
            f"{', '.join(untuned)}: nothing in search_space affects them, so no tuning trials; "
            "the training settings run on every seed"
        )
    derived = sorted({(c.method, c.source_budget) for c in cells if c.derived_as == "one_search"})
    for method, source in derived:
        notes.append(
            f"one search: {method} searches once per task and seed at {source}; its cells at "
            "the other budgets retrain that search's structure re-solved at their budget, "
            f"with the settings tuned at {source}"
        )
    for method in sorted({c.method for c in cells if c.derived_as == "transfer"}):
        source = method.partition("/")[2]
        notes.append(
            f"{method}: per seed and budget, retrains the structure of {source}'s "
            f"{SEARCHED_METHOD} final run with {source}'s tuned settings (no tuning trials; "
            f"no cell on {source} itself, where that is {SEARCHED_METHOD})"
        )
    overridden = sorted(set(sweep.training) & set(sweep.search_space))
    if overridden:
        notes.append(f"search_space overrides training for: {', '.join(overridden)}")
    notes.append(
        f"runs in {sweep.run_path}; MLflow {redact_url(sweep.tracking_uri)} (experiment "
        f"{sweep.mlflow.experiment}); Optuna storage {redact_url(sweep.storage_url)}"
    )
    return notes
