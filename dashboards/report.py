"""`s3delta report`: one self-contained HTML page + PNGs per sweep, also logged to MLflow.

The HTML inlines plotly.js once so it opens offline (no CDN). The same files are
logged to the sweep's parent run under ``report/`` so they show in the MLflow UI, and
the paired comparison's figures as ``compare/...`` metrics of that run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.offline

from dashboards.png_export import write_pngs
from dashboards.sweep_figures import SweepFigures, sweep_figures
from orchestrator.results.client import Client
from orchestrator.results.comparison_types import Comparison
from orchestrator.results.costs import SweepCosts
from orchestrator.results.text import comparison_rows, raw_rows, verdict

REPORT_ARTIFACT_DIR = "report"


@dataclass
class ReportFiles:
    """What a report wrote, and where in MLflow it went (None when not logged)."""

    html: Path
    pngs: list[Path]
    notes: list[str]
    logged_to_run: str | None


def _number(value: float) -> str:
    """Parameter counts as integers with separators, scores to 4 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _comparison_html(comparison: Comparison) -> str:
    """The paired comparison table, its verdict and notes (the forest plot is a figure)."""
    method = html.escape(comparison.method)
    parts = [
        f"<h2 id='comparison'>{method} against its baselines (paired by seed)</h2>",
        f"<p>diff = {method} &minus; baseline in points (score &times; 100), mean over the "
        "seeds both ran, with its 95% t-interval; p: paired t-test, with the Wilcoxon "
        "signed-rank test as a check that does not assume normal differences.</p>",
    ]
    rows = comparison_rows(comparison)
    if rows:
        parts.append(_wrapped(pd.DataFrame(rows).to_html(index=False, escape=True)))
    line = verdict(comparison)
    if line:
        parts.append(f"<p id='verdict'><b>{html.escape(line)}</b></p>")
    items = "".join(f"<li>{html.escape(n)}</li>" for n in comparison.notes)
    if items:
        parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts)


# cost table columns: (heading, how to write a value); counts as integers, seconds to
# one decimal, memory in whole MB, a missing value as "-"
COST_COLUMNS = {
    "n_trials": ("trials", "{:,.0f}"),
    "cpu_s": ("CPU s", "{:,.1f}"),
    "search_cpu_s": ("search CPU s", "{:,.1f}"),
    "retrain_cpu_s": ("retrain CPU s", "{:,.1f}"),
    "evaluation_cpu_s": ("evaluation CPU s", "{:,.1f}"),
    "gpu_s": ("GPU s", "{:,.1f}"),
    "wall_s": ("wall s", "{:,.1f}"),
    "peak_rss_mb": ("peak RSS MB", "{:,.0f}"),
    "peak_gpu_mb": ("peak GPU MB", "{:,.0f}"),
}
PER_POINT_COLUMNS = {
    "searched_cpu_s": ("s3delta CPU s", "{:,.1f}"),
    "random_cpu_s": ("random CPU s", "{:,.1f}"),
    "extra_cpu_s": ("extra CPU s", "{:,.1f}"),
    "gain_points": ("gain (points)", "{:+.2f}"),
    "n_pairs": ("pairs", "{:,.0f}"),
    "cpu_s_per_point": ("CPU s per point", "{:,.1f}"),
}


def _cell(value: object, form: str, missing: str = "-") -> str:
    """One table value as text: ``form`` for a number, ``missing`` for None/NaN/blank."""
    if value is None or value == "":
        return missing
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number):
        return missing if not isinstance(value, str) else value
    return form.format(float(number))


def _text_table(
    frame: pd.DataFrame, columns: dict[str, tuple[str, str]], missing: dict[str, str] | None = None
) -> pd.DataFrame:
    """``frame`` with numbers written out and machine headings made readable."""
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        if name in columns:
            heading, form = columns[name]
            gap = (missing or {}).get(name, "-")
            out[heading] = [_cell(v, form, gap) for v in frame[name]]
        else:
            out[name] = [
                "" if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in frame[name]
            ]
    return out


def _costs_html(costs: SweepCosts) -> str:
    """What each cell and the whole sweep cost, and what the search bought over random."""
    parts = [
        "<h2 id='costs'>Cost</h2>",
        "<p>Per cell, summed over every trial run (tuning and final, pruned and failed "
        "included): CPU-seconds (process CPU time, all threads), the search's share of them, "
        "GPU-seconds (CUDA time held; 0 on CPU), wall seconds; peak memory is the largest "
        "resident set of any trial. The last row is the sweep's total.</p>",
    ]
    if costs.cells.empty:
        parts.append("<p>No trial recorded its cost.</p>")
        return "\n".join(parts)
    table = costs.cells.copy()
    total = {"task": "total", "method": "", "budget": "", **costs.total}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    parts.append(
        _wrapped(
            _text_table(table, COST_COLUMNS).to_html(
                index=False, escape=True, table_id="cost-cells"
            )
        )
    )
    if costs.per_point:
        parts.append(
            "<p>What the search bought: CPU-seconds of the s3delta cell minus those of the "
            "random cell at the same task and budget, per point of mean paired gain over "
            'random ("no gain" where s3delta did not score higher).</p>'
        )
        rows = pd.DataFrame([p.to_dict() for p in costs.per_point])
        text = _text_table(rows, PER_POINT_COLUMNS, {"cpu_s_per_point": "no gain"})
        parts.append(_wrapped(text.to_html(index=False, escape=True, table_id="cost-per-point")))
    return "\n".join(parts)


def _wrapped(table_html: str) -> str:
    """A table that scrolls sideways inside the page instead of widening it."""
    return f"<div class='table-wrap'>{table_html}</div>"


def _results_table(results: pd.DataFrame) -> str:
    """The per-cell results as `s3delta results --raw` shows them (% with ±, sizes)."""
    if results.empty:
        return "<p>No final runs finished yet.</p>"
    header, rows = raw_rows(results)
    return _wrapped(
        pd.DataFrame(rows, columns=header).to_html(index=False, escape=True, table_id="results")
    )


def render_html(content: SweepFigures) -> str:
    """The whole page: title, gaps, notes, results table, figures (plotly.js inlined once)."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>s3delta report: {html.escape(content.sweep)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}"
        ".table-wrap{max-width:100%;overflow-x:auto}"
        ".gaps{background:#fff3cd;padding:0.5em 1em;border:1px solid #e0c060}</style>",
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>",
        f"</head><body><h1>s3delta report: sweep {html.escape(content.sweep)}</h1>",
    ]
    if content.gaps.empty:
        parts.append("<p id='gaps'>All planned final trials finished.</p>")
    else:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in content.gaps.lines())
        parts.append(
            f"<div class='gaps' id='gaps'><b>Gaps</b> (expected grid from "
            f"{html.escape(content.gaps.source)}); these cells are averaged over fewer seeds "
            f"or absent from the figures:<ul>{items}</ul></div>"
        )
    if content.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in content.notes)
        parts.append(f"<details id='notes'><summary>Notes</summary><ul>{items}</ul></details>")
    if content.comparison is not None:
        parts.append(_comparison_html(content.comparison))
    parts.append("<h2>Results (final phase: scores in %, mean &plusmn; std over seeds)</h2>")
    parts.append(_results_table(content.results))
    if content.costs is not None:
        parts.append(_costs_html(content.costs))
    for named in content.figures:
        parts.append(f"<h2>{html.escape(named.heading)}</h2>")
        parts.append(
            named.figure.to_html(
                full_html=False, include_plotlyjs=False, div_id=f"fig-{named.stem}"
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    client: Client, sweep: str, out_dir: Path, log_to_mlflow: bool = True, pngs: bool = True
) -> ReportFiles:
    """Build, write (``out_dir/report.html`` + ``out_dir/png/*.png``) and log a sweep's report."""
    content = sweep_figures(client, sweep)
    out_dir.mkdir(parents=True, exist_ok=True)
    png_dir = out_dir / "png"
    png_paths: list[Path] = []
    if pngs:
        png_dir.mkdir(exist_ok=True)
        targets = [png_dir / f"{n.stem}.png" for n in content.figures]
        problem = write_pngs([n.figure for n in content.figures], targets)
        if problem:
            content.notes.append(problem)
        else:
            png_paths = targets
    page = out_dir / "report.html"
    page.write_text(render_html(content), encoding="utf-8")
    logged = None
    if log_to_mlflow:
        logged = client.sweep_run_id(sweep)
        client.mlflow.log_artifact(logged, str(page), REPORT_ARTIFACT_DIR)
        if content.comparison is not None:
            client.log_comparison(sweep, content.comparison, run_id=logged)
        if content.costs is not None:  # the sweep's total and cost per point, as metrics
            client.log_costs(content.costs, run_id=logged)
        if png_paths:
            client.mlflow.log_artifacts(logged, str(png_dir), f"{REPORT_ARTIFACT_DIR}/png")
    return ReportFiles(page, png_paths, content.notes + content.gaps.lines(), logged)
