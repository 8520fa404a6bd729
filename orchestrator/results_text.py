"""`s3delta results --raw` for people: one line per cell, scores in % with ± over seeds.

Columns: task, method, budget, seeds (n finished; "+k failed" when some did not finish),
the test score and each official test metric as mean ± std in % (points; a single seed
has no ±), the dev score in %, and the delta size and budget in parameters with thousands
separators. `--json` / `--csv` keep the machine columns (`Client.results`).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from orchestrator.comparison_text import score_text


def _points(row: dict[str, Any], column: str) -> str:
    mean = row.get(f"{column}_mean")
    if mean is None or pd.isna(mean):
        return "-"
    std = row.get(f"{column}_std")
    std = math.nan if std is None or pd.isna(std) else 100 * float(std)
    return score_text(100 * float(mean), std)


def _count(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):,.0f}"


def raw_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and display rows of `Client.results`."""
    metrics = sorted(
        c[: -len("_mean")]
        for c in table.columns
        if c.startswith("test_") and c.endswith("_mean") and c != "test_score_mean"
    )
    header = ["task", "method", "budget", "seeds", "test %"]
    header += [m[len("test_") :] + " %" for m in metrics]
    header += ["dev %", "delta params", "budget params"]
    rows = []
    for row in table.to_dict("records"):
        failed = int(row.get("n_failed") or 0)
        seeds = str(int(row.get("n_seeds") or 0)) + (f" +{failed} failed" if failed else "")
        line = [str(row["task"]), str(row["method"]), str(row["budget"]), seeds]
        line.append(_points(row, "test_score"))
        line += [_points(row, m) for m in metrics]
        dev = row.get("dev_score_mean")
        line.append("-" if dev is None or pd.isna(dev) else f"{100 * float(dev):.1f}")
        line += [_count(row.get("delta_params_mean")), _count(row.get("budget_params_mean"))]
        rows.append(line)
    return header, rows


def format_raw(table: pd.DataFrame, sweep: str) -> str:
    """The aligned text table (numbers right-aligned)."""
    header, rows = raw_rows(table)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    left = 3  # task, method, budget

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    intro = (
        f"Sweep {sweep!r}, final runs: test and dev scores in %, mean ± std over seeds; "
        "sizes in trainable delta parameters."
    )
    return "\n".join([intro, "", line(header), *(line(r) for r in rows)])
