"""Figure 1: test score against trainable-parameter budget, one line per method.

The x value of a cell is its resolved budget (``budget_params``) for budgeted methods
and its own delta size for budget-free ones (manual baselines), as the spec asks each
manual baseline to report its own size. Fine-tuning is drawn as a horizontal
reference line, not a point, since its size (the whole backbone) would squash the
log axis. The "mean over tasks" panel averages per seed over tasks and uses only
(method, budget, seed) triples present in every task, so a missing task cannot
silently lift or sink an average.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.style import PERCENT, color_of, finished, floored_range

FINETUNE = "finetune"
MEAN_PANEL = "mean over tasks"


def _cell_x(cell: pd.DataFrame) -> float:
    """Budget in parameters, or the method's own delta size when it has no budget."""
    if "budget_params" in cell and cell["budget_params"].notna().any():
        return float(cell["budget_params"].mean())
    return float(cell["delta_params"].mean()) if "delta_params" in cell else math.nan


def summarise(trials: pd.DataFrame, metric: str = "test_score") -> pd.DataFrame:
    """Per (panel, method, budget): x, mean, std, n over seeds; panel is a task or the mean."""
    done = finished(trials, metric)
    rows = []
    for (task, method, budget), cell in done.groupby(["task", "method", "budget"]):
        scores = cell[metric]
        rows.append(
            {
                "panel": task,
                "method": method,
                "budget": budget,
                "x": _cell_x(cell),
                "mean": scores.mean(),
                "std": scores.std(ddof=1),
                "n": len(scores),
            }
        )
    tasks = done["task"].nunique()
    for (method, budget), cell in done.groupby(["method", "budget"]):
        per_seed = cell.groupby("seed").agg(score=(metric, "mean"), tasks=("task", "nunique"))
        complete = per_seed[per_seed["tasks"] == tasks]["score"]
        if tasks > 1 and len(complete):
            rows.append(
                {
                    "panel": MEAN_PANEL,
                    "method": method,
                    "budget": budget,
                    "x": _cell_x(cell),
                    "mean": complete.mean(),
                    "std": complete.std(ddof=1),
                    "n": len(complete),
                }
            )
    columns = ["panel", "method", "budget", "x", "mean", "std", "n"]
    return pd.DataFrame(rows, columns=columns)


def _finetune_line(fig: go.Figure, of_panel: pd.DataFrame, row: int, col: int, show: bool) -> bool:
    """Dashed horizontal line at the fine-tune mean, spanning the panel's other points.

    A trace rather than a layout shape, so the y axis stretches to include it and it
    gets a legend entry.
    """
    level = PERCENT * of_panel[of_panel["method"] == FINETUNE]["mean"].mean()
    xs = of_panel[of_panel["method"] != FINETUNE]["x"].dropna()
    if math.isnan(level) or xs.empty:
        return False
    fig.add_trace(
        go.Scatter(
            x=[xs.min() / 1.5, xs.max() * 1.5],
            y=[level, level],
            mode="lines",
            name="fine-tune",
            legendgroup=FINETUNE,
            showlegend=show,
            line={"dash": "dash", "color": color_of(FINETUNE)},
            hovertemplate=f"fine-tune {level:.1f}%<extra></extra>",
        ),
        row=row,
        col=col,
    )
    return True


def score_vs_budget_figure(trials: pd.DataFrame, metric: str = "test_score") -> go.Figure:
    """Subplots per task (+ mean over tasks): mean +- std over seeds against log budget."""
    table = summarise(trials, metric)
    panels = sorted(p for p in table["panel"].unique() if p != MEAN_PANEL)
    if MEAN_PANEL in set(table["panel"]):
        panels.append(MEAN_PANEL)
    cols = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=panels or ["no finished trials"])
    shown: set[str] = set()
    for index, panel in enumerate(panels):
        row, col = index // cols + 1, index % cols + 1
        of_panel = table[table["panel"] == panel]
        panel_values: list[float] = list(
            PERCENT * of_panel[of_panel["method"] == FINETUNE]["mean"].dropna()
        )
        for method, line in of_panel.groupby("method"):
            if method == FINETUNE:
                continue
            line = line.dropna(subset=["x", "mean"]).sort_values("x")
            spread = PERCENT * line["std"].fillna(0.0)
            panel_values += list(PERCENT * line["mean"] + spread)
            panel_values += list(PERCENT * line["mean"] - spread)
            fig.add_trace(
                go.Scatter(
                    x=line["x"],
                    y=PERCENT * line["mean"],
                    error_y={"type": "data", "array": spread, "visible": True},
                    mode="lines+markers",
                    name=str(method),
                    legendgroup=str(method),
                    showlegend=method not in shown,
                    line={"color": color_of(str(method))},
                    customdata=line[["budget", "n"]].assign(std=spread),
                    hovertemplate=(
                        f"{method}<br>budget %{{customdata[0]}} (%{{x:,.0f}} params)"
                        "<br>score %{y:.1f}% ± %{customdata[2]:.1f}<br>seeds %{customdata[1]}"
                        "<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
            shown.add(str(method))
        if _finetune_line(fig, of_panel, row, col, show=FINETUNE not in shown):
            shown.add(FINETUNE)
        fig.update_xaxes(type="log", title_text="trainable parameters", row=row, col=col)
        fig.update_yaxes(
            title_text=f"{metric} (%)",
            range=floored_range(panel_values, 1.0),
            row=row,
            col=col,
        )
    fig.update_layout(
        title=f"{metric} (%) vs trainable-parameter budget (mean ± std over seeds)",
        height=380 * rows + 80,
        width=1200,
    )
    return fig
