"""The sweeps of a home and their state; collecting what dead drivers left RUNNING.

What `s3delta runs` shows and `s3delta runs --gc` does. A sweep is a run dir holding
`plan.json` (written by its first driver). Its state comes from three places: the
driver lock (`lock.py`, and the PostgreSQL guard of `db_lock.py`), the newest MLflow
sweep run, and the RUNNING MLflow runs and Optuna trials. RUNNING records of a sweep
whose lock is free are orphans: their driver died (`kill -9`, a lost machine). `--gc`
takes the sweep's locks, so no driver can start meanwhile, and closes them as
interrupted (`orphans.py`); `s3delta run --resume` continues such a sweep exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator import paths
from orchestrator.results.query import quote
from orchestrator.results.text import aligned
from orchestrator.runner.db_lock import db_holder, guard_url, sweep_db_guard
from orchestrator.runner.lock import SweepLockedError, lock_holder, sweep_lock
from orchestrator.runner.orphans import (
    close_orphans,
    mlflow_orphans,
    optuna_orphans,
    store_exists,
    study_names,
)


@dataclass
class SweepPlace:
    """Where one sweep's records live."""

    name: str
    run_dir: Path
    tracking_uri: str
    storage_url: str
    studies: list[str]


@dataclass
class SweepState:
    """One line of `s3delta runs`."""

    place: SweepPlace
    driver: str | None  # who runs it now, or None
    sweep_run: str  # the newest sweep run's MLflow status, or "-" when none
    orphans: list[str] = field(default_factory=list)  # RUNNING records (lines)
    incomplete: str = ""  # "incomplete: N failed": it ended without every final seed

    @property
    def state(self) -> str:
        if self.driver:
            return "running"
        if self.orphans:
            return "orphaned"
        if self.incomplete:
            return self.incomplete
        return {"FINISHED": "finished", "FAILED": "failed", "KILLED": "stopped"}.get(
            self.sweep_run, "not started"
        )


def place_of(
    run_dir: Path, tracking_uri: str | None = None, storage_url: str | None = None
) -> SweepPlace | None:
    """The sweep in `run_dir` (None without a readable plan.json), with its stores."""
    try:
        plan = json.loads((run_dir / "plan.json").read_text())
        name = str(plan["name"])
        cells = list(plan["cells"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    uri = tracking_uri or paths.default_tracking_uri()
    storage = storage_url or paths.default_optuna_storage(run_dir)
    return SweepPlace(name, run_dir, uri, storage, study_names(name, cells))


def home_places(
    home: Path, tracking_uri: str | None = None, storage_url: str | None = None
) -> list[SweepPlace]:
    """Every sweep with a run dir directly under `home`, by name."""
    if not home.is_dir():
        return []
    found = (place_of(d, tracking_uri, storage_url) for d in sorted(home.iterdir()) if d.is_dir())
    return [place for place in found if place is not None]


def _sweep_run_status(tracking_uri: str, sweep: str) -> tuple[str, str]:
    """The newest sweep run's status and its incomplete state (`failures.py`) or ""."""

    if not store_exists(tracking_uri):
        return "-", ""
    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiments:
        return "-", ""
    runs = client.search_runs(
        experiments,
        filter_string=f"tags.`s3delta.kind` = 'sweep' and tags.`s3delta.sweep` = {quote(sweep)}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return "-", ""
    state = runs[0].data.tags.get("s3delta.state", "")
    return str(runs[0].info.status), state if state.startswith("incomplete") else ""


def _driver(place: SweepPlace) -> str | None:
    holder = lock_holder(place.run_dir)
    if holder:
        return holder
    url = guard_url(place.tracking_uri, place.storage_url)
    return db_holder(url, place.name) if url else None


def state_of(place: SweepPlace) -> SweepState:
    """Read the sweep's state; changes nothing."""
    orphans = mlflow_orphans(place.tracking_uri, place.name, close=False)
    orphans += optuna_orphans(place.storage_url, place.studies, close=False)
    status, incomplete = _sweep_run_status(place.tracking_uri, place.name)
    return SweepState(place, _driver(place), status, orphans, incomplete)


def collect(place: SweepPlace) -> list[str]:
    """Close the sweep's orphans under its locks; one line per change.

    Raises `SweepLockedError` when a driver runs the sweep (nothing is an orphan then)."""
    with (
        sweep_lock(place.run_dir, place.name),
        sweep_db_guard(place.tracking_uri, place.storage_url, place.name),
    ):
        return close_orphans(place.tracking_uri, place.storage_url, place.name, place.studies)


def table(states: list[SweepState]) -> list[str]:
    """Plain-text lines: one header and one row per sweep."""
    header = ["sweep", "state", "sweep run", "open records", "driver", "run dir"]
    rows = [
        [
            s.place.name,
            s.state,
            s.sweep_run,
            str(len(s.orphans)),
            s.driver or "-",
            str(s.place.run_dir),
        ]
        for s in states
    ]
    return aligned(header, rows, left=len(header))


__all__ = [
    "SweepLockedError",
    "SweepPlace",
    "SweepState",
    "collect",
    "home_places",
    "place_of",
    "state_of",
    "study_names",
    "table",
]
