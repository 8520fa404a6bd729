"""Figure 5: a search run's trajectory by step.

Top: the expected size sum_i n_i p_i against the budget (they should meet, since
the shift is solved so that they do). Bottom: dev score during search and during
retraining. Metrics a run did not log are simply absent (e.g. a random run has no
search metrics).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.style import PERCENT, floored_range

SIZE_KEYS = ("search/expected_size", "search/budget")
SCORE_KEYS = ("search/dev_score", "retrain/dev_score")
TRAJECTORY_KEYS = SIZE_KEYS + SCORE_KEYS


def trajectory_figure(histories: Mapping[str, pd.DataFrame], title: str = "") -> go.Figure:
    """Lines per metric from ``{key: DataFrame(step, value)}``; keys not given are skipped."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=False,
        subplot_titles=["expected size vs budget", "dev score"],
        vertical_spacing=0.2,
    )
    shown: dict[int, list[float]] = {1: [], 2: []}
    for row, keys in ((1, SIZE_KEYS), (2, SCORE_KEYS)):
        scale = PERCENT if row == 2 else 1.0
        for key in keys:
            history = histories.get(key)
            if history is None or history.empty:
                continue
            dash = "dash" if key == "search/budget" else None
            shown[row] += list(history["value"] * scale)
            fig.add_trace(
                go.Scatter(
                    x=history["step"],
                    y=history["value"] * scale,
                    mode="lines+markers" if len(history) < 50 else "lines",
                    name=key,
                    line={"dash": dash},
                ),
                row=row,
                col=1,
            )
        fig.update_xaxes(title_text="step", row=row, col=1)
    # floors: float noise in the expected size (or a flat score) stays a flat line
    size_floor = max(10.0, 0.02 * max((abs(v) for v in shown[1]), default=0.0))
    fig.update_yaxes(
        title_text="parameters",
        tickformat=",.0f",
        range=floored_range(shown[1], size_floor),
        row=1,
        col=1,
    )
    fig.update_yaxes(title_text="dev score (%)", range=floored_range(shown[2], 2.0), row=2, col=1)
    missing = [k for k in TRAJECTORY_KEYS if k not in histories]
    note = f"<br><sup>not logged: {', '.join(missing)}</sup>" if missing else ""
    fig.update_layout(title=(title or "search trajectory") + note, height=640, width=1200)
    return fig
