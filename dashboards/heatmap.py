"""Figure 3: keep-probabilities p as a layer-by-position heatmap, the chosen structure beside.

Rows are (kind, role) pairs, e.g. "lora · q" or "lnfit · ffn_norm"; columns are
layers, with the embedding norm in an "emb" column before layer 0 and final norms in
a "final" column after the last layer. T5's encoder and decoder get separate rows
of panels. Cells that are not candidates stay blank (NaN), so "never offered" and
"offered, p = 0" look different.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.candidate_names import (
    CandidateNameError,
    kind_sort_key,
    parse_position,
    role_sort_key,
    split_name,
)


@dataclass
class Grid:
    """One stack's cells: row labels, column labels and a value per (row, column)."""

    rows: list[str] = field(default_factory=list)
    cols: list[str] = field(default_factory=list)
    p: dict[tuple[str, str], float] = field(default_factory=dict)
    chosen: dict[tuple[str, str], int] = field(default_factory=dict)

    def matrix(self, values: Mapping[tuple[str, str], float]) -> list[list[float]]:
        """Row-major values, NaN where a (row, column) holds no candidate."""
        return [[values.get((r, c), math.nan) for c in self.cols] for r in self.rows]


def _column(layer: int, role: str) -> str:
    if layer >= 0:
        return str(layer)
    return "emb" if role == "emb_norm" else "final"


def _column_key(label: str) -> tuple[int, int]:
    if label == "emb":
        return (0, 0)
    if label == "final":
        return (2, 0)
    return (1, int(label))


def structure_entries(structure: Any) -> list[dict[str, Any]]:
    """Entries of a Structure object or Structure JSON dict as plain dicts."""
    if structure is None:
        return []
    data = structure.to_dict() if hasattr(structure, "to_dict") else structure
    return [dict(e) for e in data.get("entries", [])]


def build_grids(
    probabilities: Mapping[str, float] | None, structure: Any
) -> tuple[dict[str, Grid], list[str]]:
    """Grids per stack from p and the chosen entries, plus names no rule could place."""
    grids: dict[str, Grid] = {}
    unplaced: list[str] = []
    # (candidate name, kind, p or None, chosen size or None)
    cells: list[tuple[str, str, float | None, int | None]] = []
    for name, prob in (probabilities or {}).items():
        cells.append((name, split_name(name)[1] or "?", float(prob), None))
    for entry in structure_entries(structure):
        name = f"{entry['path']}:{entry['kind']}"
        cells.append((name, str(entry["kind"]), None, int(entry["size"])))
    keys: dict[str, set[tuple[str, str]]] = {}
    columns: dict[str, set[str]] = {}
    for name, kind, prob_or_none, size in cells:
        try:
            where = parse_position(name)
        except CandidateNameError:
            unplaced.append(name)
            continue
        row, col = f"{kind} · {where.role}", _column(where.layer, where.role)
        grid = grids.setdefault(where.stack, Grid())
        keys.setdefault(where.stack, set()).add((kind, where.role))
        columns.setdefault(where.stack, set()).add(col)
        if prob_or_none is not None:
            grid.p[(row, col)] = prob_or_none
        if size is not None:
            grid.chosen[(row, col)] = size
    for stack, grid in grids.items():
        ordered = sorted(keys[stack], key=lambda kr: (kind_sort_key(kr[0]), role_sort_key(kr[1])))
        grid.rows = [f"{k} · {r}" for k, r in ordered]
        grid.cols = sorted(columns[stack], key=_column_key)
    return grids, sorted(set(unplaced))


def _chosen_values(
    grid: Grid, candidates: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], float]:
    """1 where chosen, 0 where a candidate was offered but not chosen."""
    values = {key: 0.0 for key in candidates}
    values.update({key: 1.0 for key in grid.chosen})
    return values


def p_range(values: Iterable[float]) -> tuple[float, float, str]:
    """Colour range for keep-probabilities: the data's own min..max (p after a search
    typically spans 0.01-0.06, one dark colour on a fixed 0..1 scale); 0..1 when all equal."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite or max(finite) - min(finite) < 1e-12:
        return 0.0, 1.0, "scale 0 to 1"
    low, high = min(finite), max(finite)
    return low, high, f"scaled to this run: {low:.3g} to {high:.3g}"


def probability_heatmap_figure(
    probabilities: Mapping[str, float] | None, structure: Any, title: str = ""
) -> go.Figure:
    """Heatmap of p (left) and the chosen structure (right), one panel row per stack."""
    grids, unplaced = build_grids(probabilities, structure)
    stacks = [s for s in ("encoder", "decoder") if s in grids] + sorted(
        s for s in grids if s not in ("encoder", "decoder")
    )
    titles = [t for s in stacks for t in (f"{s}: keep-probability p", f"{s}: chosen structure")]
    n_rows = max(1, len(stacks))
    heights = [max(1, len(grids[s].rows)) for s in stacks] or [1]
    fig = make_subplots(
        rows=n_rows,
        cols=2,
        subplot_titles=titles or ["no candidates"],
        row_heights=[h / sum(heights) for h in heights],
        horizontal_spacing=0.18,
        vertical_spacing=0.08,
    )
    low, high, scale_note = p_range(v for g in grids.values() for v in g.p.values())
    for index, stack in enumerate(stacks):
        grid = grids[stack]
        fig.add_trace(
            go.Heatmap(
                z=grid.matrix(grid.p),
                x=grid.cols,
                y=grid.rows,
                zmin=low,
                zmax=high,
                colorscale="Viridis",
                name=f"{stack} p",
                colorbar={
                    "title": {"text": f"p<br><sup>{scale_note}</sup>", "side": "right"},
                    "len": 0.5,
                    "x": 1.02,
                    "y": 1.0,
                    "yanchor": "top",
                },
                showscale=index == 0,
                hovertemplate="%{y}, layer %{x}: p = %{z:.3f}<extra></extra>",
            ),
            row=index + 1,
            col=1,
        )
        offered = set(grid.p) | set(grid.chosen)
        sizes = [[grid.chosen.get((r, c), 0) for c in grid.cols] for r in grid.rows]
        fig.add_trace(
            go.Heatmap(
                z=grid.matrix(_chosen_values(grid, offered)),
                x=grid.cols,
                y=grid.rows,
                zmin=0.0,
                zmax=1.0,
                colorscale=[[0.0, "#f0f0f0"], [1.0, "#d62728"]],
                name=f"{stack} chosen",
                showscale=False,
                customdata=sizes,
                hovertemplate="%{y}, layer %{x}: chosen %{z}, size %{customdata}<extra></extra>",
            ),
            row=index + 1,
            col=2,
        )
        for col in (1, 2):
            fig.update_xaxes(title_text="layer", type="category", row=index + 1, col=col)
            fig.update_yaxes(type="category", autorange="reversed", row=index + 1, col=col)
    note = f"<br><sup>not placed (no rule): {', '.join(unplaced[:5])}</sup>" if unplaced else ""
    total_rows = sum(heights)
    fig.update_layout(
        title=(title or "candidate keep-probabilities and chosen structure") + note,
        height=max(420, 22 * total_rows + 160 * n_rows),
        width=1200,
    )
    return fig
