"""Figure 2: final runs' scores against their delta size, with the Pareto front per task.

Only final runs (the tuned configuration on each seed) are plotted as points and make the
front: tuning trials ran other hyperparameters, often scored on dev only, and mixing
them in would credit a method with its tuning noise. Tuning trials are drawn as one
faint grey layer behind, for context. A point is on the front when no final run of the
same task is at most as large and scores higher. Tasks get their own panels because
scores of different tasks are not comparable. Trials of size 0 (head only) cannot sit
on a log axis and are left out; the figure's subtitle counts them.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.style import PERCENT, color_of, finished, floored_range


def pareto_front(
    points: pd.DataFrame, size: str = "delta_params", score: str = "test_score"
) -> pd.DataFrame:
    """Rows of ``points`` not dominated by a smaller-or-equal, better-scoring row."""
    ordered = points.sort_values([size, score], ascending=[True, False])
    best = -math.inf
    keep = []
    for index, value in ordered[score].items():
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


TUNING_STYLE = {"color": "#999999", "size": 6, "opacity": 0.2}


def pareto_figure(trials: pd.DataFrame, metric: str = "test_score") -> go.Figure:
    """Scatter of ``metric`` vs delta_params (log x) per task, front drawn as a step line."""
    done = finished(trials, metric)
    if "phase" not in done:
        done = done.assign(phase="final")
    if "delta_params" in done:
        done = done[done["delta_params"].notna()]
        zero_size = int((done["delta_params"] <= 0).sum())
        done = done[done["delta_params"] > 0]
    else:
        zero_size, done = 0, done.iloc[0:0]
    tasks = sorted(done["task"].unique())
    cols = min(3, max(1, len(tasks)))
    rows = max(1, math.ceil(len(tasks) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=tasks or ["no finished trials"])
    shown: set[str] = set()
    for index, task in enumerate(tasks):
        row, col = index // cols + 1, index % cols + 1
        in_task = done[done["task"] == task]
        tuning = in_task[in_task["phase"] == "tune"]
        of_task = in_task[in_task["phase"] != "tune"]
        if not tuning.empty:
            fig.add_trace(
                go.Scatter(
                    x=tuning["delta_params"],
                    y=PERCENT * tuning[metric],
                    mode="markers",
                    name="tuning trials",
                    legendgroup="tuning trials",
                    showlegend="tuning trials" not in shown,
                    marker=TUNING_STYLE,
                    customdata=tuning[["method", "budget"]],
                    hovertemplate=(
                        "tuning trial: %{customdata[0]} budget %{customdata[1]}"
                        "<br>%{x:,.0f} params, score %{y:.1f}%<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
            shown.add("tuning trials")
        for method, points in of_task.groupby("method"):
            fig.add_trace(
                go.Scatter(
                    x=points["delta_params"],
                    y=PERCENT * points[metric],
                    mode="markers",
                    name=str(method),
                    legendgroup=str(method),
                    showlegend=method not in shown,
                    marker={"color": color_of(str(method)), "size": 8, "opacity": 0.8},
                    customdata=points[["budget", "seed", "phase"]],
                    hovertemplate=(
                        f"{method} budget %{{customdata[0]}} seed %{{customdata[1]}}"
                        " (%{customdata[2]})<br>%{x:,.0f} params, score %{y:.1f}%<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
            shown.add(str(method))
        front = pareto_front(of_task, score=metric)
        fig.add_trace(
            go.Scatter(
                x=front["delta_params"],
                y=PERCENT * front[metric],
                mode="lines",
                line={"shape": "hv", "color": "black", "width": 1},
                name="Pareto front",
                legendgroup="Pareto front",
                showlegend="Pareto front" not in shown,
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
        shown.add("Pareto front")
        fig.update_xaxes(type="log", title_text="delta parameters", row=row, col=col)
        fig.update_yaxes(
            title_text=f"{metric} (%)",
            range=floored_range(PERCENT * in_task[metric], 1.0),
            row=row,
            col=col,
        )
    note = f" ({zero_size} trials of size 0 not shown)" if zero_size else ""
    fig.update_layout(
        title=f"Pareto front: {metric} (%) vs delta size, final runs (tuning trials faint){note}",
        height=380 * rows + 80,
        width=1200,
    )
    return fig
