"""Records a dead driver left open: found, closed as interrupted, and reopened on resume.

A driver that dies leaves its MLflow runs and Optuna trials RUNNING. They are orphans
once nobody holds the sweep's driver lock. Closing them keeps the resume rules intact:
- MLflow: trial and cell runs end FAILED, the sweep run KILLED, all tagged
  `s3delta.state=interrupted`; `--resume` reuses an interrupted run's id for its key
  and counts it as no outcome (`tracking.SweepTracker.recorded`).
- Optuna: a RUNNING trial ends FAIL with the user attribute `s3delta.interrupted`.
  Optuna cannot reopen a finished trial, so `reopen_interrupted` sets such trials back
  to RUNNING in the storage's `trials` table before `--resume` opens the studies; the
  driver then reruns them under the same number (same key, same checkpoints), exactly
  as if they had been left RUNNING.

Who calls this: the driver itself when it stops on an exception or a signal (its lock
still held), `s3delta runs --gc` for drivers killed with SIGKILL, and `--resume`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.results.query import quote
from orchestrator.runner import fence
from orchestrator.runner.keys import study_name

INTERRUPTED_ATTR = "s3delta.interrupted"
INTERRUPTED = "interrupted"
_KIND_STATUS = {"trial": "FAILED", "cell": "FAILED", "sweep": "KILLED"}


def store_exists(url: str) -> bool:
    """False for a SQLite file that is not there (reading must not create a store)."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        return Path(url[len(prefix) :].split("?", 1)[0]).is_file()
    return True


def study_names(sweep: str, cells: Iterable[Any]) -> list[str]:
    """The Optuna studies of a sweep, from its plan's cells (objects or plan.json dicts)."""
    names = []
    for cell in cells:
        fields = cell if isinstance(cell, dict) else vars(cell)
        budget = fields.get("budget")
        names.append(
            study_name(sweep, str(fields["task"]), str(fields["method"]), budget and str(budget))
        )
    return list(dict.fromkeys(names))


def _storage(url: str) -> Any:
    from orchestrator.runner.study import make_storage

    return make_storage(url)


def _studies(storage: Any, names: Iterable[str]) -> list[tuple[str, int]]:
    found = []
    for name in names:
        try:
            found.append((name, storage.get_study_id_from_name(name)))
        except KeyError:
            continue
    return found


def optuna_orphans(storage_url: str, names: Iterable[str], close: bool) -> list[str]:
    """RUNNING trials of these studies, one line each; with `close`, ended FAIL (interrupted)."""
    from optuna.trial import TrialState

    if not store_exists(storage_url):
        return []
    storage = _storage(storage_url)
    lines = []
    try:
        for name, study_id in _studies(storage, names):
            for trial in storage.get_all_trials(study_id, deepcopy=False):
                if trial.state != TrialState.RUNNING:
                    continue
                if close:
                    storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
                    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                lines.append(f"Optuna {name} trial {trial.number}: RUNNING -> FAIL (interrupted)")
    finally:
        storage.engine.dispose()
    return lines


def reopen_interrupted(storage_url: str, names: Iterable[str]) -> int:
    """Set trials closed as interrupted back to RUNNING so `--resume` reruns them as they were."""
    from optuna.trial import TrialState
    from sqlalchemy import text

    from orchestrator.runner.study import CONFIG_ATTR

    if not store_exists(storage_url):
        return 0
    storage = _storage(storage_url)
    reopened = 0
    try:
        for _, study_id in _studies(storage, names):
            for trial in storage.get_all_trials(study_id, deepcopy=False):
                attrs = trial.user_attrs
                if trial.state != TrialState.FAIL or not attrs.get(INTERRUPTED_ATTR):
                    continue
                if CONFIG_ATTR not in attrs:  # never configured: nothing ran, stays failed
                    continue
                with storage.engine.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE trials SET state = 'RUNNING', datetime_complete = NULL "
                            "WHERE trial_id = :t AND state = 'FAIL'"
                        ),
                        {"t": trial._trial_id},
                    )
                storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, False)
                reopened += 1
    finally:
        storage.engine.dispose()
    return reopened


def mlflow_orphans(tracking_uri: str, sweep: str, close: bool) -> list[str]:
    """RUNNING runs of this sweep in any experiment; with `close`, ended as interrupted."""
    if not store_exists(tracking_uri):
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    lines: list[str] = []
    if not experiments:
        return lines
    page = None
    runs: list[Any] = []
    while True:
        batch = client.search_runs(
            experiments,
            filter_string=f"tags.`s3delta.sweep` = {quote(sweep)} and attributes.status = 'RUNNING'",
            max_results=1000,
            page_token=page,
        )
        runs.extend(batch)
        page = batch.token
        if not page:
            break
    for run in runs:
        kind = run.data.tags.get("s3delta.kind", "run")
        status = _KIND_STATUS.get(kind, "FAILED")
        if close:
            client.set_tag(run.info.run_id, "s3delta.state", INTERRUPTED)
            if kind == "trial":
                client.set_tag(
                    run.info.run_id,
                    "s3delta.error",
                    "the driver ended while this trial ran; continue with `s3delta run --resume`",
                )
            client.set_terminated(run.info.run_id, status=status)
        name = run.data.tags.get("mlflow.runName", run.info.run_id)
        lines.append(f"MLflow {kind} run {run.info.run_id} ({name}): RUNNING -> {status}")
    return lines


def close_orphans(
    tracking_uri: str, storage_url: str, sweep: str, names: Iterable[str]
) -> list[str]:
    """End everything of this sweep left RUNNING; the caller holds the sweep's lock.

    Nothing when this process's driver has lost the sweep (`fence.py`): what is RUNNING
    may by now be another driver's."""
    if fence.is_lost():
        return []
    return mlflow_orphans(tracking_uri, sweep, close=True) + optuna_orphans(
        storage_url, names, close=True
    )
