"""The paired comparison as MLflow metrics of a sweep's parent run.

One set per row: ``compare/<task>/<budget>/<baseline>/<figure>``, each part made
MLflow-safe (``glue/sst2`` -> ``glue_sst2``, ``0.01%`` -> ``0.01pct``, pooled rows
``pooled/0.01pct`` and ``pooled/le_0.01pct``), so the MLflow UI can chart and compare
them across sweeps. The sweep driver logs them when a sweep ends
(`orchestrator.results.client`), `s3delta report` again when it runs.
"""

from __future__ import annotations

import math

from orchestrator.results.comparison_types import Comparison, PairedComparison
from workers.names import safe_name

PREFIX = "compare"
_WORDS = {"≤": "le_", "%": "pct"}
FIGURES = (
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "wilcoxon_p",
    "n_pairs",
    "wins",
    "ties",
    "losses",
    "missing_pairs",
    "pct_of_finetune",
)


def metric_part(text: str) -> str:
    """One path part of a metric name: only MLflow's allowed characters, no '/'."""
    return safe_name(text, keep="_.- ", sep="_", strip="_ ", words=_WORDS, fallback="_")


def metric_prefix(row: PairedComparison) -> str:
    """``compare/<task>/<budget>/<baseline>`` for a row."""
    parts = (row.task, row.budget, row.baseline)
    return "/".join((PREFIX, *(metric_part(p) for p in parts)))


def _figures(row: PairedComparison) -> dict[str, float | None]:
    return {
        "mean_diff": row.mean_diff_points,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "p_value": row.p_value,
        "wilcoxon_p": row.wilcoxon_p,
        "n_pairs": row.n_pairs,
        "wins": row.wins,
        "ties": row.ties,
        "losses": row.losses,
        "missing_pairs": len(row.missing),
        "pct_of_finetune": row.pct_of_finetune,
    }


def comparison_metrics(comparison: Comparison) -> dict[str, float]:
    """Metric name -> value for every row; NaN and absent figures are left out."""
    values: dict[str, float] = {}
    for row in comparison.rows:
        prefix = metric_prefix(row)
        for figure, value in _figures(row).items():
            if value is not None and not math.isnan(float(value)):
                values[f"{prefix}/{figure}"] = float(value)
    return values
