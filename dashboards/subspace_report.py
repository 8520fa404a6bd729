"""The HTML report of a subspace sweep: per task, the results table, the transfer matrix
as a heatmap, and the landscape (one panel per DET, the P_k and the v found through that
DET's decoder marked), from what the sweep recorded in MLflow. Self-contained (plotly.js
inlined once), like the S3Delta report.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots

from orchestrator.results.client import Client
from orchestrator.results.subspace import (
    KIND_EXPERIMENT,
    SubspaceTable,
    find_subspace_sweep,
    subspace_tables,
)

MARKERS = ("circle", "square", "triangle-up", "diamond", "triangle-down")


def _pm(mean: float, std: float, scale: float = 1.0, unit: str = "") -> str:
    if math.isnan(mean):
        return "-"
    return f"{scale * mean:.1f}{unit} ± {scale * std:.1f}"


def table_html(t: SubspaceTable) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(d)}</td><td>{t.sizes[d]:,}</td>"
        f"<td>{_pm(t.original[d].mean, t.original[d].std, 100)}</td>"
        f"<td>{_pm(t.subspace[d].mean, t.subspace[d].std, 100)}</td>"
        f"<td>{_pm(t.subspace_pct[d].mean, t.subspace_pct[d].std, 1, '%')}</td></tr>"
        for d in t.dets
    )
    return (
        "<table><tr><th>DET</th><th>size</th><th>original</th><th>subspace</th>"
        f"<th>% of original</th></tr>{rows}</table>"
    )


def transfer_figure(t: SubspaceTable) -> go.Figure:
    """Rows: the DET whose decoder v was found through; columns: the decoder used."""
    z = [[s.mean for s in row] for row in t.transfer_pct]
    text = [[_pm(s.mean, s.std, 1, "%") for s in row] for row in t.transfer_pct]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"decoded by {d}" for d in t.dets],
            y=[f"found through {d}" for d in t.dets],
            text=text,
            texttemplate="%{text}",
            colorscale="Viridis",
            colorbar={"title": "% of target's own score"},
        )
    )
    fig.update_layout(
        title=f"{t.task}: transfer (% of the target DET's own score; diagonal = subspace)",
        yaxis={"autorange": "reversed"},
        width=640,
        height=460,
    )
    return fig


def landscape_figure(task: str, seed: int, grid: dict[str, Any]) -> go.Figure:
    dets = list(grid["dets"])
    fig = make_subplots(rows=1, cols=len(dets), subplot_titles=[f"decoded by {d}" for d in dets])
    for col in range(1, len(dets) + 1):
        scores = grid["scores"][col - 1]
        fig.add_trace(
            go.Heatmap(
                x=grid["u"],
                y=grid["v"],
                z=[list(r) for r in zip(*scores, strict=True)],  # rows = v, columns = u
                colorscale="Viridis",
                coloraxis="coloraxis",
            ),
            row=1,
            col=col,
        )
        for i, (pu, pv) in enumerate(grid["point_coords"]):
            fig.add_trace(
                go.Scatter(
                    x=[pu],
                    y=[pv],
                    mode="markers+text",
                    text=[f"P {dets[i]}"],
                    textposition="top center",
                    marker={
                        "symbol": MARKERS[i % len(MARKERS)],
                        "size": 11,
                        "color": "white",
                        "line": {"color": "black", "width": 1},
                    },
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
        vu, vv = grid["v_coords"][col - 1][:2]
        fig.add_trace(
            go.Scatter(
                x=[vu], y=[vv], mode="markers", showlegend=False,
                marker={"symbol": "star", "size": 15, "color": "red",
                        "line": {"color": "black", "width": 1}},
            ),
            row=1,
            col=col,
        )  # fmt: skip
    fig.update_layout(
        title=f"{task} seed {seed}: dev score over the plane of the P_k (red star: v found "
        "through that DET's decoder, projected)",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "dev score"}},
        width=420 * len(dets),
        height=460,
    )
    return fig


def _landscapes(client: Client, parent_id: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """task -> (seed, grid) of the lowest finished seed that recorded a grid."""
    runs = client.mlflow.search_runs(
        [client.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}' and "
        f"tags.`s3delta.kind` = '{KIND_EXPERIMENT}'",
        max_results=5000,
    )
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda r: int(r.data.tags.get("s3delta.seed", 0))):
        task = run.data.tags.get("s3delta.task", "")
        if task in found or run.info.status != "FINISHED":
            continue
        try:
            path = client.run_artifact(run.info.run_id, "subspace/grid.json")
        except Exception:  # no landscape recorded (grid_size: 0)
            continue
        found[task] = (
            int(run.data.tags.get("s3delta.seed", 0)),
            json.loads(Path(path).read_text()),
        )
    return found


def write_subspace_report(client: Client, sweep: str, out: Path) -> Path | None:
    """Write ``out/index.html`` for subspace sweep ``sweep``; None if it is not one."""
    parent = find_subspace_sweep(client.mlflow, client.experiment_id, sweep)
    if parent is None:
        return None
    tables = subspace_tables(client.mlflow, client.experiment_id, parent)
    grids = _landscapes(client, parent)
    parts = [
        "<html><head><meta charset='utf-8'>",
        f"<title>s3delta subspace sweep {html.escape(sweep)}</title>",
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}</style></head><body>",
        f"<h1>Subspace sweep {html.escape(sweep)}</h1>",
        "<p>Test scores (selected on dev), mean ± std over seeds; % = subspace (or "
        "transfer) score / the same (target) DET's own-space score. Paper, T5-base single "
        "task: 84.9% (subspace), 82.6% (transfer).</p>",
    ]
    for t in tables:
        seeds = ", ".join(str(s) for s in t.seeds)
        parts.append(f"<h2>{html.escape(t.task)} (d = {t.d}, seeds {seeds})</h2>")
        parts.append(table_html(t))
        parts.append(transfer_figure(t).to_html(full_html=False, include_plotlyjs=False))
        if t.task in grids:
            seed, grid = grids[t.task]
            parts.append(
                landscape_figure(t.task, seed, grid).to_html(
                    full_html=False, include_plotlyjs=False
                )
            )
    parts.append("</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    page.write_text("\n".join(parts))
    return page
