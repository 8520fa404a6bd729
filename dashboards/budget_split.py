"""Figure 4: how each budget is spent, by module kind and by layer (stacked bars).

Bars show mean parameters per structure at each budget, averaged over the
structures given (typically every finished s3delta final run of the sweep: all
tasks and seeds), so a bar's height is the mean structure size at that budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.candidate_names import CandidateNameError, kind_sort_key, parse_position
from dashboards.heatmap import structure_entries
from dashboards.style import kind_color, kind_label
from orchestrator.results.comparison import budget_key


def _layer_label(entry: dict[str, Any]) -> str:
    """ "enc 3", "dec 0", or "outside layers" for embedding/final norms."""
    if "layer" in entry and "stack" in entry and entry["layer"] is not None:
        stack, layer = str(entry["stack"]), int(entry["layer"])
    else:
        try:
            where = parse_position(f"{entry['path']}:{entry['kind']}")
        except CandidateNameError:
            return "unplaced"
        stack, layer = where.stack, where.layer
    return "outside layers" if layer < 0 else f"{stack[:3]} {layer}"


def _layer_key(label: str) -> tuple[int, int]:
    if label in ("outside layers", "unplaced"):
        return (3, 0)
    stack, layer = label.split()
    return (0 if stack == "enc" else 1, int(layer))


def split_by(
    structures: Sequence[tuple[str, Any]],
) -> tuple[list[str], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Budgets in order, and mean params per structure by kind and by layer label per budget."""
    counts: dict[str, int] = defaultdict(int)
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_layer: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for budget, structure in structures:
        counts[budget] += 1
        for entry in structure_entries(structure):
            size = float(entry["size"])
            by_kind[str(entry["kind"])][budget] += size
            by_layer[_layer_label(entry)][budget] += size
    budgets = sorted(counts, key=budget_key)
    for table in (by_kind, by_layer):
        for per_budget in table.values():
            for budget in per_budget:
                per_budget[budget] /= counts[budget]
    return budgets, by_kind, by_layer


def budget_split_figure(structures: Sequence[tuple[str, Any]], title: str = "") -> go.Figure:
    """Stacked bars per budget: left by module kind, right by layer."""
    budgets, by_kind, by_layer = split_by(structures)
    fig = make_subplots(rows=1, cols=2, subplot_titles=["by module kind", "by layer"])
    for kind in sorted(by_kind, key=kind_sort_key):
        fig.add_trace(
            go.Bar(
                x=budgets,
                y=[by_kind[kind].get(b, 0.0) for b in budgets],
                name=kind,
                legendgroup="kind",
                legendgrouptitle_text="kind",
                marker_color=kind_color(kind),
                hovertemplate=f"{kind_label(kind)}: %{{y:,.0f}} parameters<extra>%{{x}}</extra>",
            ),
            row=1,
            col=1,
        )
    for label in sorted(by_layer, key=_layer_key):
        fig.add_trace(
            go.Bar(
                x=budgets,
                y=[by_layer[label].get(b, 0.0) for b in budgets],
                name=label,
                legendgroup="layer",
                legendgrouptitle_text="layer",
            ),
            row=1,
            col=2,
        )
    for col in (1, 2):
        fig.update_xaxes(title_text="budget", type="category", row=1, col=col)
        fig.update_yaxes(title_text="mean parameters per structure", row=1, col=col)
    n = len(structures)
    fig.update_layout(
        barmode="stack",
        title=title or f"how the budget is spent (mean over {n} structures)",
        height=480,
        width=1200,
    )
    return fig
