"""The MLflow run ids behind a comparison, for `s3delta results --json`.

Why: `s3delta export` takes a trial's run id; the JSON a program reads should carry them
(every final trial's, and per s3delta cell the best-dev one that `s3delta best --run-id`
prints), so no one has to open the MLflow UI to find what to export.
"""

from __future__ import annotations

from typing import Any

from orchestrator.results.client import SEARCHED_METHOD, Client, ResultsError
from orchestrator.results.text import plain

COLUMNS = ("task", "method", "budget", "seed", "status", "run_id")


def run_ids(client: Client, sweep: str) -> dict[str, list[dict[str, Any]]]:
    """``{"best_s3delta_runs": [{task, budget, run_id}], "final_runs": [{task, method,
    budget, seed, status, run_id}]}``."""
    finals = client.trials(sweep, phase="final")
    present = [c for c in COLUMNS if c in finals.columns]
    final_runs = [
        {k: plain(v) for k, v in row.items()} for row in finals[present].to_dict("records")
    ]
    best = []
    searched = finals[finals["method"] == SEARCHED_METHOD][["task", "budget"]].drop_duplicates()
    for task, budget in searched.itertuples(index=False):
        try:
            best.append(
                {"task": task, "budget": budget, "run_id": client.best_run_id(sweep, task, budget)}
            )
        except ResultsError:
            continue  # no finished run in that cell yet
    return {"best_s3delta_runs": best, "final_runs": final_runs}
