"""Links into the MLflow UI that open on the runs (model-training) view.

MLflow 3 opens an experiment in its GenAI traces overview unless the URL says
``?workflowType=machine_learning`` (the query follows the hash route,
``#/experiments/<id>/runs?...``: on the bare ``#/experiments/<id>`` route the UI redirects
and drops any other query such as ``viewStateShareKey``); the experiment tag
``mlflow.experimentKind`` alone does not switch the view. Every link s3delta prints or
opens goes through these functions.
"""

from __future__ import annotations

import json

VIEW = "workflowType=machine_learning"
# A saved runs-table view: MLflow 3 reads experiment tag `mlflow.sharedViewState.<key>`
# (JSON) when the URL carries `viewStateShareKey=<key>` (and no search of its own). Ours
# shows the cells at the top level and puts the comparison columns first (`columnOrder`):
# the test score in points, the paired difference to random and its interval, then the
# dev scores, size, the run's params and structure. MLflow 3.17 takes no expanded rows
# from a shared view (`runsExpanded` is dropped), so the view searches the trial runs:
# the UI adds the parent of each run found (one level: the cells, not the sweep run) and
# shows a run whose parent is not in the table at the top level, with its children
# folded under it.
SHARED_VIEW_KEY = "s3delta-runs"
SHARED_VIEW_TAG = f"mlflow.sharedViewState.{SHARED_VIEW_KEY}"
VIEW_SEARCH = "tags.`s3delta.kind` = 'trial'"
VIEW_METRICS = (
    "test_score_pct",
    "diff_vs_random",
    "diff_vs_random_ci_low",
    "diff_vs_random_ci_high",
    "test_score_std_pct",
    "best_dev_score_pct",
    "dev_score_pct",
    "delta_params",
    "budget_pct",
    "structure/upper_fraction",
)
VIEW_PARAMS = ("task", "method", "budget", "seed", "phase")


def column(kind: str, name: str) -> str:
    """A runs-table column key as the MLflow UI writes it: metrics.`name`."""
    return f"{kind}.`{name}`"


def shared_view_state() -> str:
    """The JSON of the s3delta runs view (the value of `SHARED_VIEW_TAG`)."""
    columns = [column("metrics", m) for m in VIEW_METRICS]
    columns += [column("params", p) for p in VIEW_PARAMS]
    columns.append(column("attributes", "Duration"))
    state = {"searchFilter": VIEW_SEARCH, "selectedColumns": columns, "columnOrder": columns}
    return json.dumps(state)


def experiment_url(base: str, experiment_id: str, shared_view: bool = False) -> str:
    """The experiment's runs table; with ``shared_view`` in the s3delta column layout
    (only for experiments that carry `SHARED_VIEW_TAG`, i.e. ones a sweep wrote to)."""
    share = f"&viewStateShareKey={SHARED_VIEW_KEY}" if shared_view else ""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{VIEW}{share}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{VIEW}"
