"""Gather a sweep's data through `orchestrator.results.client.Client` and build all its figures.

Per-run figures (heatmap, trajectory) are drawn for the best-dev s3delta final run
of each (task, budget) cell, the run whose structure `Client.best_structure` returns.
Anything a run lacks (no probabilities.json, no step metrics) becomes a note, not an
exception, so a partial sweep still yields a report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboards.budget_split import budget_split_figure
from dashboards.forest import forest_figure
from dashboards.gaps import Gaps, find_gaps
from dashboards.heatmap import probability_heatmap_figure
from dashboards.pareto import pareto_figure
from dashboards.score_vs_budget import score_vs_budget_figure
from dashboards.trajectory import TRAJECTORY_KEYS, trajectory_figure
from orchestrator.results.client import SEARCHED_METHOD, Client, ResultsError
from orchestrator.results.comparison_types import Comparison
from orchestrator.results.costs import SweepCosts, sweep_costs
from workers.methods import RANDOM_METHOD
from workers.names import safe_name


@dataclass
class NamedFigure:
    """A figure with a file-name-safe stem and a heading for the report."""

    stem: str
    heading: str
    figure: go.Figure


@dataclass
class SweepFigures:
    """Everything a report shows: figures, the results table, gaps and notes."""

    sweep: str
    figures: list[NamedFigure]
    results: pd.DataFrame
    gaps: Gaps
    notes: list[str] = field(default_factory=list)
    comparison: Comparison | None = None  # s3delta against its baselines, paired by seed
    costs: SweepCosts | None = None  # what each cell and the sweep cost (orchestrator.results.costs)


def slug(text: str) -> str:
    """File-name-safe form of a task or budget ("glue/sst2" -> "glue_sst2", "0.01%" -> "0.01pct")."""
    return safe_name(text, sep="_", strip="_", words={"%": "pct"}, fallback="")


def _plan(client: Client, sweep: str, notes: list[str]) -> Any:
    try:
        path = client.run_artifact(client.sweep_run_id(sweep), "plan.json")
        return json.loads(path.read_text())
    except (ResultsError, json.JSONDecodeError) as err:
        notes.append(f"plan.json unusable, expected grid inferred from the runs: {err}")
        return None


def _run_figures(
    client: Client, run_id: str, task: str, budget: str, notes: list[str]
) -> list[NamedFigure]:
    """Heatmap and trajectory of one run."""
    label = f"{task} at {budget} (run {run_id[:8]})"
    try:
        probabilities: dict[str, float] | None = client.probabilities(run_id)
    except ResultsError as err:
        probabilities = None
        notes.append(f"{label}: no probabilities ({err})")
    try:
        structure: dict[str, Any] | None = client.structure_dict(run_id)
    except ResultsError as err:
        structure = None
        notes.append(f"{label}: no structure ({err})")
    histories = {}
    for key in TRAJECTORY_KEYS:
        try:
            histories[key] = client.metric_history(run_id, key)
        except ResultsError:
            continue
    stem = f"{slug(task)}_{slug(budget)}"
    return [
        NamedFigure(
            f"heatmap_{stem}",
            f"Keep-probabilities and chosen structure: {label}",
            probability_heatmap_figure(probabilities, structure, f"p and structure, {label}"),
        ),
        NamedFigure(
            f"trajectory_{stem}",
            f"Search trajectory: {label}",
            trajectory_figure(histories, f"search trajectory, {label}"),
        ),
    ]


def sweep_figures(client: Client, sweep: str) -> SweepFigures:
    """All figures of a sweep, its results table and its gaps."""
    notes: list[str] = []
    finals = client.trials(sweep, phase="final")
    everything = client.trials(sweep, phase=None)
    results = client.results(sweep)
    gaps = find_gaps(finals, _plan(client, sweep, notes))
    figures = [
        NamedFigure(
            "score_vs_budget", "Score vs trainable-parameter budget", score_vs_budget_figure(finals)
        ),
        NamedFigure("pareto", "Pareto front: score vs delta size", pareto_figure(everything)),
    ]
    comparison: Comparison | None = None
    try:
        comparison = client.compare(sweep)
    except ResultsError as err:
        notes.append(f"no paired comparison: {err}")
    else:
        heading = "Paired differences with 95% intervals (forest plot)"
        figures.insert(0, NamedFigure("forest", heading, forest_figure(comparison)))
    searched = finals[(finals["method"] == SEARCHED_METHOD) & (finals["status"] == "FINISHED")]
    structures: list[tuple[str, Any]] = []
    for row in searched.itertuples(index=False):
        try:
            structures.append((str(row.budget), client.structure_dict(str(row.run_id))))
        except ResultsError as err:
            notes.append(f"run {row.run_id}: {err}")
    figures.append(
        NamedFigure(
            "budget_split",
            "How the budget is spent (s3delta structures)",
            budget_split_figure(
                structures, f"how the budget is spent: {len(structures)} s3delta structures"
            ),
        )
    )
    cells = searched[["task", "budget"]].drop_duplicates().itertuples(index=False)
    for task, budget in cells:
        try:
            run_id = client.best_run_id(sweep, str(task), str(budget))
        except ResultsError as err:
            notes.append(str(err))
            continue
        figures.extend(_run_figures(client, run_id, str(task), str(budget), notes))
    costs = sweep_costs(everything, comparison, SEARCHED_METHOD, RANDOM_METHOD)
    return SweepFigures(sweep, figures, results, gaps, notes, comparison, costs)
