"""MLflow queries: the one filter-quoting helper, paging, and the layout's tag names.

Every search of the orchestrator's runs (the reader `Client`, the trackers that write,
`--resume`, `s3delta runs`) builds its filter and pages through MLflow's results here,
so quoting and paging are the same everywhere (docs/design.md "MLflow layout"). Pure
text and calls on a client given to it: importing it loads no MLflow (`validate` uses
the tag names).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named: `validate` finds a sweep's kind without loading MLflow
    from mlflow.entities import Run

TAG = "s3delta."
KIND_TAG = "s3delta.kind"
SWEEP_TAG = "s3delta.sweep"
PARENT_TAG = "mlflow.parentRunId"
# the s3delta.kind tags of the runs each experiment kind writes (docs/design.md)
SEARCH_SWEEP = "sweep"  # a search sweep's run; its "cell" and "trial" runs below it
SUBSPACE_SWEEP = "subspace-sweep"  # a subspace sweep's run; its "subspace" runs below it
SUBSPACE_EXPERIMENT = "subspace"
PAGE_SIZE = 1000  # runs per page of `search_runs` (MLflow's own default)
NEWEST_FIRST = ["attributes.start_time DESC"]
# what MLflow accepts per call and per value
PARAM_MAX = 6000  # characters of a param value (MLflow's limit)
TAG_MAX = 4900  # characters of a long tag value we write (an error's tail), under MLflow's 5000
METRIC_BATCH = 900  # metrics per log_batch call (MLflow takes at most 1000)
PARAM_BATCH = 100  # params per log_batch call (MLflow's limit)


def quote(value: str) -> str:
    """Quote a value for an MLflow filter string."""
    return "'" + str(value).replace("'", "\\'") + "'"


def tags_filter(tags: Mapping[str, str], *clauses: str) -> str:
    """``tags.`k` = 'v' and ...`` for every tag, then the extra clauses, joined by ``and``."""
    parts = [f"tags.`{name}` = {quote(value)}" for name, value in tags.items()]
    return " and ".join([*parts, *clauses])


def search_all(
    client: Any, experiment_ids: Sequence[str], filter_string: str, order_by: list[str] | None = None
) -> list[Run]:
    """Every run matching ``filter_string``, following MLflow's pagination."""
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            list(experiment_ids),
            filter_string=filter_string,
            max_results=PAGE_SIZE,
            order_by=order_by,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def log_metrics(client: Any, run_id: str, values: Mapping[str, float]) -> None:
    """Log ``values`` as step-0 metrics of one run, now, in batches MLflow accepts."""
    from mlflow.entities import Metric  # MLflow only where a run is written: see the top

    stamp = int(time.time() * 1000)
    metrics = [Metric(name, float(value), stamp, 0) for name, value in values.items()]
    for start in range(0, len(metrics), METRIC_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRIC_BATCH])


def newest(client: Any, experiment_ids: Sequence[str], filter_string: str) -> Run | None:
    """The most recently started run matching ``filter_string``, if any."""
    runs = client.search_runs(
        list(experiment_ids), filter_string=filter_string, order_by=NEWEST_FIRST, max_results=1
    )
    return runs[0] if runs else None
