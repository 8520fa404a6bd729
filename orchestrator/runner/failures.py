"""Failed trials are retried by `--resume` and never hidden (issue 23, fault 3).

- `--resume` reruns failed trials (a data error since fixed, a transient disk-full):
  `reopen_failed` closes their MLflow runs' outcome (tag `s3delta.state=interrupted`, the
  error kept in `s3delta.retried_error`) and sets their Optuna trials back to RUNNING, so
  the driver reruns each under its own number, key, folder and run id, exactly as it
  reruns an interrupted one. `--no-retry-failed` keeps them failed (and a failed final
  seed is then not rerun either: `retry_enabled`).
- A cell that ends without a FINISHED run for every final seed is not FINISHED: its run
  ends FAILED with tag `s3delta.state=incomplete: N failed` (N: its failed trials), and
  so does the sweep run (N over all cells), which `s3delta runs` shows; the sweep's
  outcome counts the cells (`SweepOutcome.incomplete`) and `s3delta run` exits 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from orchestrator.runner.keys import Phase, TrialKey
    from orchestrator.runner.outcome import RecordedTrial, SweepOutcome
    from orchestrator.sweep.plan import Cell


class CellRunner(Protocol):
    """What this module reads of a cell's runner (`orchestrator.runner.cell.CellRunner`,
    which imports this module: a protocol here instead of an import circle)."""

    cell: Cell
    run_id: str | None
    recorded: dict[str, RecordedTrial]

    @property
    def finished(self) -> bool: ...

    @property
    def seeds(self) -> tuple[int, ...]: ...

    def key(self, phase: Phase, index: int) -> TrialKey: ...


class Tracker(Protocol):
    """The MLflow writer of a sweep (`orchestrator.runner.writer.MlflowWriter`)."""

    client: MlflowClient
    parent_id: str | None

INTERRUPTED = "interrupted"  # as orchestrator.runner.tracking / orphans
RETRIED_ERROR_TAG = "s3delta.retried_error"
STATE_TAG = "s3delta.state"
INCOMPLETE = "incomplete"

_retry = True


def set_retry_failed(enabled: bool) -> None:
    """`s3delta run --resume --no-retry-failed` turns retries off for this process."""
    global _retry
    _retry = bool(enabled)


def retry_enabled() -> bool:
    return _retry


def incomplete_state(n_failed: int) -> str:
    return f"{INCOMPLETE}: {n_failed} failed"


def reopen_failed(client: MlflowClient, storage_url: str, sweep: str, names: Iterable[str]) -> list[str]:
    """Make this sweep's failed trials rerun on this `--resume`; their keys.

    ``client``: an MlflowClient on the sweep's tracking store. Runs closed as interrupted
    are left to the resume's own handling; so are pruned (KILLED) runs."""
    from orchestrator.results.query import quote
    from orchestrator.runner.orphans import _storage, _studies, store_exists
    from orchestrator.runner.study import CONFIG_ATTR

    keys: list[str] = []
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    runs = (
        client.search_runs(
            experiments,
            filter_string=(
                f"tags.`s3delta.kind` = 'trial' and tags.`s3delta.sweep` = {quote(sweep)} "
                "and attributes.status = 'FAILED'"
            ),
            max_results=50000,
        )
        if experiments
        else []
    )
    for run in runs:
        tags = run.data.tags
        if tags.get(STATE_TAG) == INTERRUPTED or not tags.get("s3delta.key"):
            continue
        client.set_tag(run.info.run_id, RETRIED_ERROR_TAG, tags.get("s3delta.error", "")[:4000])
        client.set_tag(run.info.run_id, STATE_TAG, INTERRUPTED)  # no outcome: rerun the key
        keys.append(tags["s3delta.key"])
    if not store_exists(storage_url):
        return keys
    from optuna.trial import TrialState
    from sqlalchemy import text

    storage = _storage(storage_url)
    try:
        for _, study_id in _studies(storage, names):
            for trial in storage.get_all_trials(study_id, deepcopy=False):
                if trial.state != TrialState.FAIL or CONFIG_ATTR not in trial.user_attrs:
                    continue  # never configured: nothing ran, it stays failed
                with storage.engine.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE trials SET state = 'RUNNING', datetime_complete = NULL "
                            "WHERE trial_id = :t AND state = 'FAIL'"
                        ),
                        {"t": trial._trial_id},
                    )
                key = trial.user_attrs.get("s3delta.key")
                if key and key not in keys:
                    keys.append(str(key))
    finally:
        storage.engine.dispose()
    return keys


def cell_prefix(cell: CellRunner) -> str:
    """The key text all of a cell's trials start with."""
    return "|".join(cell.key("final", 0).text.split("|")[:4]) + "|"  # sweep|task|method|budget|


def failed_in_cell(
    cell: CellRunner, recorded: dict[str, RecordedTrial], failed_now: Iterable[str]
) -> int:
    """The cell's trials whose last outcome is a failure (earlier runs' and this run's)."""
    prefix = cell_prefix(cell)
    failed = {k for k, r in recorded.items() if r.status == "FAILED" and k.startswith(prefix)}
    failed |= {k for k in failed_now if k.startswith(prefix)}
    finished = {k for k, r in cell.recorded.items() if r.status == "FINISHED"}
    return len(failed - finished)


def missing_seeds(cell: CellRunner) -> list[int]:
    """Final seeds of a finished cell without a FINISHED run."""
    done = cell.recorded
    seeds = cell.seeds  # with seeds added until decided
    return [
        seed
        for seed in seeds
        if (r := done.get(cell.key("final", seed).text)) is None or r.status != "FINISHED"
    ]


def close_incomplete(
    tracker: Tracker,
    cells: Iterable[CellRunner],
    recorded: dict[str, RecordedTrial],
    failed_now: Iterable[str],
) -> tuple[int, int]:
    """End the finished cells that miss final seeds FAILED, tagged `incomplete: N failed`;
    how many cells that was and how many failed trials they hold."""
    failed_now = list(failed_now)
    n_cells = n_failed = 0
    for cell in cells:
        if not cell.finished or cell.run_id is None or not missing_seeds(cell):
            continue
        n = failed_in_cell(cell, recorded, failed_now)
        tracker.client.set_tag(cell.run_id, STATE_TAG, incomplete_state(n))
        tracker.client.set_terminated(cell.run_id, status="FAILED")
        n_cells += 1
        n_failed += n
    return n_cells, n_failed


def reopen_failed_cells(
    tracker: Tracker, storage_url: str, sweep: str, cells: Iterable[Cell]
) -> int:
    """`reopen_failed` over a plan's cells, said in one line; how many trials it reopened."""
    import sys

    from orchestrator.runner.keys import study_name

    names = [study_name(sweep, *cell.ident) for cell in cells]
    keys = reopen_failed(tracker.client, storage_url, sweep, names)
    if keys:
        print(
            f"sweep {sweep}: retrying {len(keys)} failed trial(s) "
            "(`--no-retry-failed` keeps them failed)",
            file=sys.stderr,
            flush=True,
        )
    return len(keys)


def close_sweep_state(
    tracker: Tracker, cells: Iterable[CellRunner], outcome: SweepOutcome
) -> str:
    """At the sweep's end: incomplete cells closed as such (`close_incomplete`), complete
    ones tagged finished (a stale `incomplete` tag from an earlier run goes), the sweep
    run tagged the same way; the status to end the sweep run with."""
    cells = list(cells)
    outcome.incomplete, outcome.incomplete_failed = close_incomplete(
        tracker, cells, cells[0].recorded if cells else {}, outcome.failed_keys
    )
    for cell in cells:
        if cell.finished and cell.run_id is not None and not missing_seeds(cell):
            tracker.client.set_tag(cell.run_id, STATE_TAG, "finished")
    state = incomplete_state(outcome.incomplete_failed) if outcome.incomplete else "finished"
    if tracker.parent_id is not None:
        tracker.client.set_tag(tracker.parent_id, STATE_TAG, state)
    return "FAILED" if outcome.incomplete else "FINISHED"
