"""Summary metrics of a sweep's cells, logged on each cell run and on the sweep run.

Per cell (task x method x budget), from the trial runs the driver wrote and, on resume,
read once at its start (so a resumed sweep counts the trials of earlier drivers too, and
a finished cell reads nothing back from MLflow):

- ``best_dev_score``: the best dev score of the cell's tuning trials (of its final runs
  when nothing was tuned);
- ``test_score_mean``, ``test_score_std`` (sample std over seeds), ``n_seeds``,
  ``dev_score_mean`` of the final runs;
- ``delta_params``, ``budget_params``: the cell's size (mean over its final runs);
- for reading, in points (100 x the fraction), 2 decimals: ``test_score_pct`` (mean over
  seeds), ``test_score_std_pct``, ``dev_score_pct`` (mean), ``best_dev_score_pct``; and
  ``budget_pct`` (a percentage budget as a number, or a parameter count as a share of the
  backbone), the compare view's axis;
- s3delta cells only: ``diff_vs_random`` (mean paired difference s3delta - random in
  points), ``diff_vs_random_ci_low``/``_ci_high`` (95% t-interval), ``diff_vs_random_p``
  (3 significant digits), each rounded to 2 decimals for reading and kept exact as
  ``<name>_exact``; and ``diff_vs_random_n_pairs``;
- what the cell cost (`orchestrator.results.costs`): ``cost_cpu_s``, ``cost_gpu_s``, ``cost_wall_s``,
  ``cost_search_cpu_s`` summed over every trial run of the cell, ``cost_n_trials``, and
  ``cost_peak_rss_mb`` (the largest).

On the sweep run the same figures are named ``cell/<task>/<method>/<budget>/<figure>``
(parts made MLflow-safe as in `orchestrator.results.comparison_metrics`), with the sweep's total
cost ``cost/total/<figure>`` and the cost per point gained over random
``cost/<task>/<budget>/cpu_s_per_point`` (`orchestrator.results.costs.cost_metrics`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from orchestrator.results.client import results_table, seed_scores
from orchestrator.results.comparison import compare_scores
from orchestrator.results.comparison_metrics import comparison_metrics, metric_part
from orchestrator.results.comparison_types import Comparison
from orchestrator.results.costs import cell_costs, cost_metrics, sweep_costs
from orchestrator.runner.tracking import SweepTracker, budget_pct, pct_metrics
from workers.methods import RANDOM_METHOD as RANDOM
from workers.methods import SEARCHED_METHOD as SEARCHED

log = logging.getLogger(__name__)
CellId = tuple[str, str, str]  # task, method, budget text ("none" without a budget)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _rounded(value: Any) -> float:
    """Nine significant digits: a std of three equal scores shows 0, not 1.4e-16."""
    number = float(value)
    return 0.0 if abs(number) < 1e-12 else float(f"{number:.9g}")


def cell_summaries(trials: pd.DataFrame) -> dict[CellId, dict[str, float]]:
    """The figures above for every cell with at least one finished trial.

    ``trials``: the sweep's trial runs, every phase and status (`SweepTracker.trials`,
    the same table `Client.trials(sweep, phase=None)` reads back)."""
    summaries: dict[CellId, dict[str, float]] = {}
    if trials.empty:
        return summaries
    done = trials[trials["status"] == "FINISHED"]
    _add_costs(summaries, cell_costs(trials))
    for row in results_table(trials).to_dict("records"):
        ident = (str(row["task"]), str(row["method"]), str(row["budget"]))
        values = {
            "test_score_mean": row.get("test_score_mean"),
            "test_score_std": row.get("test_score_std"),
            "dev_score_mean": row.get("dev_score_mean"),
            "n_seeds": row.get("n_seeds"),
            "delta_params": row.get("delta_params_mean"),
            "budget_params": row.get("budget_params_mean"),
        }
        figures = {k: _rounded(v) for k, v in values.items() if _number(v) is not None}
        summaries.setdefault(ident, {}).update(figures)
    if "dev_score" in done:
        for ident_values, cell in done.groupby(["task", "method", "budget"]):
            ident = (str(ident_values[0]), str(ident_values[1]), str(ident_values[2]))
            tuned = cell[cell["phase"] == "tune"]["dev_score"].dropna()
            scores = tuned if not tuned.empty else cell["dev_score"].dropna()
            if not scores.empty:
                summaries.setdefault(ident, {})["best_dev_score"] = float(scores.max())
    for ident, figures in summaries.items():
        _add_readable(ident, figures, done)
    comparison = comparison_of(trials)
    if comparison is None:
        return summaries
    for cmp in comparison.cells(RANDOM):
        ident = (cmp.task, SEARCHED, cmp.budget)
        exact = {
            "diff_vs_random": cmp.mean_diff_points,
            "diff_vs_random_ci_low": cmp.ci_low,
            "diff_vs_random_ci_high": cmp.ci_high,
            "diff_vs_random_p": cmp.p_value,
        }
        target = summaries.setdefault(ident, {})
        for name, value in exact.items():
            number = _number(value)
            if number is None:
                continue
            target[f"{name}_exact"] = number
            target[name] = float(f"{number:.3g}") if name.endswith("_p") else round(number, 2)
        if _number(cmp.n_pairs) is not None:
            target["diff_vs_random_n_pairs"] = float(cmp.n_pairs)
    return summaries


def _add_readable(ident: CellId, figures: dict[str, float], done: pd.DataFrame) -> None:
    """The cell's scores in points (2 decimals) and its budget as a number (`budget_pct`)."""
    figures.update(
        pct_metrics(
            {
                "test_score": figures.get("test_score_mean"),
                "test_score_std": figures.get("test_score_std"),
                "dev_score": figures.get("dev_score_mean"),
                "best_dev_score": figures.get("best_dev_score"),
            }
        )
    )
    pct = budget_pct(ident[2])
    if pct is None and {"budget_params", "backbone_params"} <= set(done.columns):
        # a parameter-count budget: its share of the backbone, from the final runs
        cell = done[
            (done["task"] == ident[0])
            & (done["method"] == ident[1])
            & (done["budget"] == ident[2])
            & (done["phase"] == "final")
        ]
        share = (cell["budget_params"] / cell["backbone_params"]).dropna()
        if ident[2] != "none" and not share.empty:
            pct = float(f"{100.0 * float(share.mean()):.6g}")
    if pct is not None:
        figures["budget_pct"] = pct


def comparison_of(trials: pd.DataFrame) -> Comparison | None:
    """s3delta against random and every other baseline, paired by seed (`Client.compare`);
    None while too few runs finished to compare."""
    try:
        return compare_scores(seed_scores(trials), method=SEARCHED, baseline=RANDOM)
    except Exception as error:  # too few runs to compare yet: the other figures stand
        log.debug("no paired comparison yet: %s", error)
        return None


def _add_costs(summaries: dict[CellId, dict[str, float]], cells: pd.DataFrame) -> None:
    """Each cell's cost figures as ``cost_<figure>`` (from `orchestrator.results.costs.cell_costs`)."""
    for row in cells.to_dict("records"):
        ident = (str(row["task"]), str(row["method"]), str(row["budget"]))
        figures = {
            f"cost_{name}": row[name]
            for name in ("n_trials", "cpu_s", "gpu_s", "wall_s", "search_cpu_s", "peak_rss_mb")
        }
        summaries.setdefault(ident, {}).update(
            {k: _rounded(v) for k, v in figures.items() if _number(v) is not None}
        )


def sweep_metrics(summaries: dict[CellId, dict[str, float]]) -> dict[str, float]:
    """``cell/<task>/<method>/<budget>/<figure>`` for the sweep run."""
    values = {}
    for (task, method, budget), figures in summaries.items():
        prefix = "/".join(("cell", metric_part(task), metric_part(method), metric_part(budget)))
        for figure, value in figures.items():
            values[f"{prefix}/{figure}"] = float(value)
    return values


def log_summaries(
    tracker: SweepTracker, sweep: str, cells: list[CellId] | None = None, close: bool = False
) -> dict[CellId, dict[str, float]]:
    """Log the summaries of ``cells`` (all when None) on their cell runs and on the sweep run.

    Computed from the trials the tracker holds (`SweepTracker.trials`): MLflow is only
    written. ``close``: end those cell runs FINISHED. Never raises: the trials are
    recorded and `s3delta report` can redo a summary, so a failure is only a warning."""
    try:
        trials = tracker.trials()
        summaries = cell_summaries(trials)
        chosen = list(tracker.cell_ids) if cells is None else cells
        for ident in chosen:
            run_id = tracker.cell_ids.get(ident)
            if run_id is not None:
                tracker.log_summary(run_id, summaries.get(ident, {}), "FINISHED" if close else None)
        if tracker.parent_id:
            picked = {i: summaries[i] for i in chosen if i in summaries}
            values = sweep_metrics(picked)
            costs = sweep_costs(trials, comparison_of(trials), SEARCHED, RANDOM)
            values.update(cost_metrics(costs, metric_part))
            tracker.log_summary(tracker.parent_id, values, None)
        return summaries
    except Exception as error:
        log.warning("cell summaries not logged (%s); `s3delta report %s` logs them", error, sweep)
        return {}


def log_comparison(tracker: SweepTracker, sweep: str) -> int:
    """Log the sweep's paired comparison on its sweep run (``compare/...``, the metrics
    `Client.log_comparison` writes); returns how many. The driver's last step: from the
    trials it holds, and a failure is only a warning (`s3delta report` logs it again)."""
    try:
        comparison = compare_scores(seed_scores(tracker.trials()), method=SEARCHED, baseline=RANDOM)
        values = comparison_metrics(comparison)
        if tracker.parent_id:
            tracker.log_summary(tracker.parent_id, values, None)
        return len(values)
    except Exception as error:  # the trials are recorded; the summary can be redone by `report`
        log.warning(
            "paired comparison not logged to the sweep run (%s); `s3delta report %s` logs it",
            error,
            sweep,
        )
        return 0
