"""Results as text for people: the paired comparison (`s3delta results SWEEP`, fits 100
columns) and the per-cell table (`s3delta results SWEEP --raw`).

Comparison: scores in % (points) with ± the std over seeds, the difference with its 95%
interval in brackets, the paired t-test p with the Wilcoxon p in parentheses, W/T/L, the
number of paired seeds and the test-set size; then missing pairs, notes and a one-line
verdict that says plainly when the run is too small to decide.

Per-cell table: task, method, budget, seeds (n finished; "+k failed" when some did not
finish), the test score and each official test metric as mean ± std in % (points; a
single seed has no ±), the dev score in %, and the delta size and budget in parameters
with thousands separators. `--json` / `--csv` keep the machine columns (`Client.results`).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from orchestrator.results.comparison_types import DECIDING_PAIRS, Comparison, PairedComparison
from orchestrator.results.paired import STATS_NOTES

WIDTH = 98
WIDE = 10_000  # the console width of `aligned`: its tables never wrap


def plain(value: Any) -> Any:
    """A JSON-safe value: NaN -> None, numpy scalars -> Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def aligned(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: int,
    right: Sequence[str] = (),
) -> list[str]:
    """A plain-text table (rich, no borders, two spaces between columns): the first
    ``left`` columns aligned left, the others right, except that with ``right`` given only
    the columns it names are aligned right; trailing spaces stripped."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="")
    for index, name in enumerate(header):
        at_right = name in right if right else index >= left
        table.add_column(Text(name), justify="right" if at_right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDE, color_system=None, force_terminal=False, emoji=False)
    console.print(table)
    return [line.rstrip() for line in buffer.getvalue().splitlines()]

COLUMNS = ("baseline", "params", "score %", "pairs", "diff [95% CI]", "p (Wilcoxon)", "W/T/L")
RIGHT = ("params", "score %", "pairs")  # numbers aligned right; the rest left


def _num(value: float | None, fmt: str = ".1f", signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return format(value, ("+" if signed else "") + fmt)


def _p(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def _params(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def score_text(mean: float, std: float) -> str:
    """``81.8 ± 2.9``; the mean alone when there is no std (one seed, pooled rows)."""
    if math.isnan(std):
        return _num(mean)
    return f"{mean:.1f} ± {std:.1f}"


def diff_text(row: PairedComparison) -> str:
    """``+0.8 [-1.2, +2.9]``, or why there is no interval."""
    if row.n_pairs == 0:
        return "no pairs"
    mean = _num(row.mean_diff_points, signed=True)
    if row.n_pairs == 1:
        return f"{mean} (n too small)"
    if math.isnan(row.ci_low):
        return f"{mean} [no spread]"
    return f"{mean} [{row.ci_low:+.1f}, {row.ci_high:+.1f}]"


def row_cells(row: PairedComparison) -> list[str]:
    """One baseline's cells under a cell heading (`COLUMNS`)."""
    score = score_text(row.b_mean, row.b_std)
    p = f"{_p(row.p_value)} ({_p(row.wilcoxon_p)})"
    wtl = f"{row.wins}/{row.ties}/{row.losses}"
    return [row.baseline, _params(row.b_params), score, str(row.n_pairs), diff_text(row), p, wtl]


def baseline_lines(rows: Sequence[PairedComparison]) -> list[str]:
    """The baselines of one cell as a rich table (indented two spaces), each row followed
    by its seeds-until-decided line when the sweep has one."""
    table = aligned(COLUMNS, [row_cells(row) for row in rows], left=0, right=RIGHT)
    header, *body = [f"  {line}" for line in table]
    lines = [header]
    for row, line in zip(rows, body, strict=True):
        lines.append(line)
        if row.verdict is not None:
            lines.append(sequential_line(row))
    return lines


def sequential_line(row: PairedComparison) -> str:
    """Seeds until decided: the pair's verdict, the seeds it used and the interval that
    decided it (a repeated 95% interval, valid under adding seeds; not the t-interval)."""
    interval = ""
    if row.seq_ci_low is not None and row.seq_ci_high is not None:
        interval = f", repeated 95% interval [{row.seq_ci_low:+.2f}, {row.seq_ci_high:+.2f}]"
    return f"    seeds until decided: {row.verdict} after {row.seeds_used} seeds{interval}"


def cell_heading(row: PairedComparison) -> str:
    """What the cell's rows share: the method's own score, size, n test and % of finetune."""
    score = score_text(row.method_mean, row.method_std)
    if row.pooled:
        where = f"pooled over {', '.join(row.tasks)} at {row.budget} (unit: task x seed)"
        head = f"{where}: {row.method} {score}"
    else:
        seeds = f"{row.method_seeds} seed{'s' if row.method_seeds != 1 else ''}"
        head = f"{row.task} at {row.budget}: {row.method} {score} ({seeds}, {_params(row.a_params)} params)"
    extra = []
    if row.n_test is not None:
        se = f", SE {row.score_se_points:.1f}" if row.score_se_points else ""
        extra.append(f"n test {row.n_test}{se}")
    if row.pct_of_finetune is not None:
        extra.append(f"{row.pct_of_finetune:.0f}% of finetune")
    return "; ".join([head, *extra])


def verdict(comparison: Comparison) -> str | None:
    """One plain line when the run cannot decide whether the method beats the baseline."""
    cells = comparison.cells(comparison.baseline)
    undecided = comparison.undecided()
    if not cells or not undecided:
        return None
    who = f"{comparison.method} beats {comparison.baseline}"
    if len(undecided) < len(cells):
        return (
            f"Too small to decide whether {who} in {len(undecided)} of {len(cells)} "
            f"task/budget cells (fewer than {DECIDING_PAIRS} paired seeds, or a 95% interval "
            "that includes 0)."
        )
    seeds = max(r.n_pairs for r in undecided)
    sizes = sorted({r.n_test for r in undecided if r.n_test is not None})
    span = f"{sizes[0]}-{sizes[-1]}" if len(sizes) > 1 else "".join(map(str, sizes))
    size = f", {span} test examples" if sizes else ""
    return (
        f"This run is too small to decide whether {who} (n={seeds} seeds{size}); "
        "see README Results for the measured comparison."
    )


def _missing_lines(comparison: Comparison) -> list[str]:
    """One line per (task, budget, missing method): the seeds left unpaired."""
    seeds: dict[tuple[str, str, str], set[int]] = {}
    for row in comparison.cells():
        for m in row.missing:
            seeds.setdefault((m.task, m.budget, m.lacking), set()).add(m.seed)
    return [
        f"  {task} {budget}: no finished {lacking} run for seed(s) {', '.join(map(str, sorted(s)))}"
        for (task, budget, lacking), s in sorted(seeds.items())
    ]


def _notes(comparison: Comparison) -> list[str]:
    """Sweep-wide notes, then row notes the table does not already show."""
    notes = list(comparison.notes)
    for row in comparison.rows:
        for part in row.note.split("; "):
            if part and part not in STATS_NOTES:
                notes.append(f"{row.task} {row.budget} vs {row.baseline}: {part}")
    return list(dict.fromkeys(notes))


def format_comparison(comparison: Comparison, sweep: str) -> str:
    """The whole text view of a sweep's comparison."""
    method = comparison.method
    intro = (
        f"{method} against its baselines, sweep {sweep!r}. Scores: test %, mean ± std over "
        "seeds; SE: standard error of one score on n test examples. diff = "
        f"{method} - baseline in points, paired by seed, [95% t-interval]; p: paired t-test "
        "(Wilcoxon signed-rank in parentheses)."
    )
    lines = textwrap.wrap(intro, WIDTH)
    if not comparison.rows:
        return "\n".join([*lines, "", *comparison.notes, "(--raw prints every cell's scores)"])
    groups: dict[tuple[Any, ...], list[PairedComparison]] = {}
    for row in comparison.rows:  # rows of one cell are adjacent (the comparison's order)
        groups.setdefault((row.task, row.budget), []).append(row)
    for group in groups.values():
        lines += ["", cell_heading(group[0]), *baseline_lines(group)]
    missing = _missing_lines(comparison)
    if missing:
        lines += ["", "Missing pairs (not counted):", *missing]
    notes = _notes(comparison)
    if notes:
        lines += ["", "Notes:"]
        for note in notes:
            lines += textwrap.wrap(note, WIDTH, initial_indent="  ", subsequent_indent="    ")
    line = verdict(comparison)
    if line:
        lines += ["", line]
    return "\n".join(lines)


def comparison_rows(comparison: Comparison) -> list[dict[str, str]]:
    """One dict of display strings per row (the HTML report's table)."""
    out = []
    for row in comparison.rows:
        out.append(
            {
                "task": "pooled: " + ", ".join(row.tasks) if row.pooled else row.task,
                "budget": row.budget,
                "baseline": row.baseline,
                "baseline params": _params(row.b_params),
                f"{row.method} %": score_text(row.a_mean, row.a_std),  # on the paired seeds
                "baseline %": score_text(row.b_mean, row.b_std),
                "pairs": str(row.n_pairs),
                "diff [95% CI]": diff_text(row),
                "p (paired t)": _p(row.p_value),
                "p (Wilcoxon)": _p(row.wilcoxon_p),
                "W/T/L": f"{row.wins}/{row.ties}/{row.losses}",
                "n test": "-" if row.n_test is None else str(row.n_test),
                "SE of one score": _num(row.score_se_points),
                "% of finetune": _num(row.pct_of_finetune, ".0f"),
                "missing seeds": ", ".join(map(str, row.missing_seeds)) or "-",
            }
        )
        if any(r.verdict is not None for r in comparison.rows):  # seeds until decided
            out[-1]["seeds until decided"] = (
                "-" if row.verdict is None else sequential_line(row).split(": ", 1)[1]
            )
    return out

# ---- the per-cell table (--raw) --------------------------------------------------


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
    intro = (
        f"Sweep {sweep!r}, final runs: test and dev scores in %, mean ± std over seeds; "
        "sizes in trainable delta parameters."
    )
    return "\n".join([intro, "", *aligned(header, rows, left=3)])  # task, method, budget
