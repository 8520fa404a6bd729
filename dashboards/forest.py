"""Forest plot of the paired comparison: one row per (task, budget, baseline), pooled last.

Each row is the mean paired difference (points) with its 95% t-interval; a row with
no interval (one pair, no spread) is drawn as an open marker with no bar, so it cannot
be read as a precise estimate. Pooled rows are diamonds. The dashed line at 0 is "no
difference"; a bar that crosses it is an undecided comparison.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from dashboards.style import color_of
from orchestrator.results.comparison_types import Comparison, PairedComparison
from orchestrator.results.text import diff_text

ROW_PX = 24


def row_label(row: PairedComparison) -> str:
    """The y label of a row: where, at what budget, against what."""
    where = f"pooled ({len(row.tasks)} tasks)" if row.pooled else row.task
    return f"{where} {row.budget} vs {row.baseline}"


def _hover(row: PairedComparison) -> str:
    p = "-" if math.isnan(row.p_value) else f"{row.p_value:.3g}"
    wilcoxon = "-" if math.isnan(row.wilcoxon_p) else f"{row.wilcoxon_p:.3g}"
    return (
        f"{row_label(row)}<br>{row.method} - {row.baseline}: {diff_text(row)} points"
        f"<br>pairs {row.n_pairs}, W/T/L {row.wins}/{row.ties}/{row.losses}"
        f"<br>p (paired t) {p}, Wilcoxon {wilcoxon}"
    )


def _trace(row: PairedComparison, first_of_baseline: bool) -> go.Scatter:
    has_ci = not math.isnan(row.ci_low)
    error = (
        {
            "type": "data",
            "symmetric": False,
            "array": [row.ci_high - row.mean_diff_points],
            "arrayminus": [row.mean_diff_points - row.ci_low],
        }
        if has_ci
        else {"visible": False}
    )
    symbol = "diamond" if row.pooled else "circle"
    return go.Scatter(
        x=[row.mean_diff_points],
        y=[row_label(row)],
        mode="markers",
        name=row.baseline,
        legendgroup=row.baseline,
        showlegend=first_of_baseline,
        marker={
            "color": color_of(row.baseline),
            "size": 11 if row.pooled else 8,
            "symbol": symbol if has_ci else f"{symbol}-open",
        },
        error_x=error,
        hovertext=_hover(row),
        hoverinfo="text",
    )


def forest_figure(comparison: Comparison, title: str | None = None) -> go.Figure:
    """One trace per comparison row (per task and budget, then pooled), CI as error bars."""
    rows = [r for r in comparison.rows if r.n_pairs > 0]
    fig = go.Figure()
    seen: set[str] = set()
    for row in rows:
        fig.add_trace(_trace(row, row.baseline not in seen))
        seen.add(row.baseline)
    heading = title or (
        f"{comparison.method} minus baseline, paired by seed: mean and 95% t-interval (points)"
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title=heading,
        height=230 + ROW_PX * max(len(rows), 3),
        width=1000,
        xaxis_title=f"{comparison.method} - baseline (points; accuracy, MCC ... x100)",
        yaxis={
            "categoryorder": "array",
            "categoryarray": [row_label(r) for r in rows],
            "autorange": "reversed",
        },
        # a horizontal legend above the plot: beside a short plot (one or two rows) a
        # vertical one runs past the figure's bottom edge and is cut off
        legend={
            "title": {"text": "baseline"},
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "xanchor": "left",
            "x": 0,
        },
        margin={"l": 260, "t": 110, "r": 40},
    )
    if not rows:
        fig.add_annotation(text="no paired runs to compare yet", showarrow=False)
    return fig
