"""What every kind's MLflow writer shares: the client, the experiment (created once even
when two drivers start at the same moment), searches with paging, and batched logging
within MLflow's limits."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.tracking import MlflowClient

from orchestrator.results.query import (
    METRIC_BATCH,
    PARAM_BATCH,
    PARAM_MAX,
    TAG_MAX,
    newest,
    search_all,
)
from orchestrator.runner.store_retry import retry_client

__all__ = ["METRIC_BATCH", "PARAM_BATCH", "PARAM_MAX", "TAG_MAX", "MlflowWriter", "param_text"]


def param_text(value: object) -> str:
    """A param value as MLflow keeps it: text, cut at `PARAM_MAX` characters."""
    return str(value)[:PARAM_MAX]


class MlflowWriter:
    """One experiment of one tracking store, written by a sweep's driver."""

    def __init__(
        self, tracking_uri: str, experiment: str, artifact_root: Path | None = None
    ) -> None:
        # one "View run at" line per child run would drown the progress output
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment
        # a server that is away for a while is waited for, and said (store_retry.py)
        self.client = retry_client(MlflowClient(tracking_uri), tracking_uri)
        self.experiment_id, self.experiment_tags = self._experiment(experiment, artifact_root)

    def _experiment(self, name: str, artifact_root: Path | None) -> tuple[str, dict[str, str]]:
        """The experiment's id and tags; created when missing (artifacts under
        ``artifact_root/<name>`` if given), or found when another driver just created it."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id), dict(found.tags)
        location = (artifact_root / name).as_uri() if artifact_root else None
        try:
            return str(self.client.create_experiment(name, artifact_location=location)), {}
        except Exception:  # created concurrently by another driver
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id), dict(found.tags)

    def runs(self, filter_string: str) -> list[Run]:
        """Every run of the experiment matching ``filter_string`` (all pages)."""
        return search_all(self.client, [self.experiment_id], filter_string)

    def newest(self, filter_string: str) -> Run | None:
        """The most recently started run matching ``filter_string``, if any."""
        return newest(self.client, [self.experiment_id], filter_string)

    def log_batches(
        self,
        run_id: str,
        params: Sequence[Param] = (),
        metrics: Sequence[Metric] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log any number of params, metrics and tags, in batches MLflow accepts."""
        for start in range(0, len(params), PARAM_BATCH):
            self.client.log_batch(run_id, params=params[start : start + PARAM_BATCH])
        for start in range(0, len(metrics), METRIC_BATCH):
            self.client.log_batch(run_id, metrics=metrics[start : start + METRIC_BATCH])
        if tags:
            self.client.log_batch(run_id, tags=list(tags))
