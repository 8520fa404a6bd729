"""The sweeps of a home and their state; collecting what dead drivers left RUNNING.

What `s3delta runs` shows and `s3delta runs --gc` does. A sweep is a run dir holding
`plan.json` (written by its first driver), with the stores its own file names (the
copy `sweep.yaml` in the run dir), or a sweep run in an MLflow store (the home's, one
given, or one a run dir's file names), whose tags hold its run dir and Optuna storage:
so sweeps on PostgreSQL or an MLflow server, and sweeps run with `--run-dir` outside
the home, are listed too. Its state comes from three places: the
driver lock (`lock.py`, and the PostgreSQL guard of `db_lock.py`), the newest MLflow
sweep run, and the RUNNING MLflow runs and Optuna trials. RUNNING records of a sweep
whose lock is free are orphans: their driver died (`kill -9`, a lost machine). `--gc`
takes the sweep's locks, so no driver can start meanwhile, and closes them as
interrupted (`orphans.py`); `s3delta run --resume` continues such a sweep exactly.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from orchestrator import locations, paths
from orchestrator.paths import redact_url
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
    unreachable: str = ""  # why its stores could not be read, if so

    @property
    def state(self) -> str:
        if self.unreachable:
            return "unreachable"
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
    run_dir: Path,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    default_uri: str | None = None,
) -> SweepPlace | None:
    """The sweep in `run_dir` (None without a readable plan.json), with its stores: the
    ones given, else those its own file names, else `default_uri` (or the default) and
    `<run dir>/optuna.db`."""
    try:
        plan = json.loads((run_dir / "plan.json").read_text())
        name = str(plan["name"])
        cells = list(plan["cells"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    own_uri, own_storage = _own_stores(run_dir)
    uri = tracking_uri or own_uri or default_uri or paths.default_tracking_uri()
    storage = storage_url or own_storage or paths.default_optuna_storage(run_dir)
    return SweepPlace(name, run_dir, uri, storage, study_names(name, cells))


def _own_stores(run_dir: Path) -> tuple[str | None, str | None]:
    """The MLflow and Optuna URLs the sweep's own file names (its copy in the run dir);
    None for one it leaves to the defaults, a relative path or a removed password."""
    try:
        raw = yaml.safe_load((run_dir / "sweep.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None, None
    if not isinstance(raw, dict):
        return None, None

    def pick(section: str, key: str, check: Any) -> str | None:
        part = raw.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if not isinstance(value, str) or not value or "***" in value:
            return None
        try:
            return str(check(value))
        except ValueError:
            return None

    return (
        pick("mlflow", "tracking_uri", locations.tracking_uri),
        pick("optuna", "storage", locations.storage_url),
    )


def home_places(
    home: Path,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    default_uri: str | None = None,
) -> list[SweepPlace]:
    """Every sweep of this home, by name: the run dirs directly under `home`, then the
    sweep runs of the MLflow stores (the given or default one, and those the run dirs'
    sweeps use) whose run dir is elsewhere (`--run-dir`) or gone."""
    places: list[SweepPlace] = []
    if home.is_dir():
        found = (
            place_of(d, tracking_uri, storage_url, default_uri)
            for d in sorted(home.iterdir())
            if d.is_dir()
        )
        places = [place for place in found if place is not None]
    stores = [tracking_uri or default_uri or paths.default_tracking_uri()]
    stores += [p.tracking_uri for p in places]
    seen = {(p.name, _same(p.run_dir)) for p in places}
    for uri in dict.fromkeys(stores):
        for place in recorded_places(uri, storage_url):
            if (place.name, _same(place.run_dir)) not in seen:
                seen.add((place.name, _same(place.run_dir)))
                places.append(place)
    return sorted(places, key=lambda p: p.name)


def _same(path: Path) -> str:
    try:
        return str(path.expanduser().resolve())
    except OSError:
        return str(path)


def _sweep_runs(client: MlflowClient, sweep: str | None = None) -> list[Any]:
    """The store's sweep runs (of one sweep), newest first."""
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiments:
        return []
    where = "tags.`s3delta.kind` = 'sweep'"
    if sweep is not None:
        where += f" and tags.`s3delta.sweep` = {quote(sweep)}"
    runs: list[Any] = []
    page = None
    while True:
        batch = client.search_runs(
            experiments,
            filter_string=where,
            order_by=["attributes.start_time DESC"],
            max_results=1000,
            page_token=page,
        )
        runs.extend(batch)
        page = batch.token
        if not page:
            return runs


def recorded_places(tracking_uri: str, storage_url: str | None = None) -> list[SweepPlace]:
    """The sweeps an MLflow store holds sweep runs of, one per name and run dir (the
    newest run's tags: `s3delta.run_dir`, `s3delta.optuna_storage`); the studies from
    the run dir's plan.json, else the run's `plan.json` artifact. A store that cannot be
    read gives none."""
    if not store_exists(tracking_uri):
        return []
    try:
        client = MlflowClient(tracking_uri)
        runs = _sweep_runs(client)
    except Exception:  # a store away or of another schema: the run dirs still list
        return []
    places: dict[tuple[str, str], SweepPlace] = {}
    for run in runs:
        tags = run.data.tags
        name, folder = tags.get("s3delta.sweep"), tags.get("s3delta.run_dir")
        if not name or not folder or (name, _same(Path(folder))) in places:
            continue
        run_dir = Path(folder)
        storage = storage_url or tags.get("s3delta.optuna_storage") or ""
        if not storage or "***" in storage:  # its password was removed: the default's
            storage = paths.default_optuna_storage(run_dir)
        cells = _plan_cells(run_dir, client, run.info.run_id)
        places[(name, _same(run_dir))] = SweepPlace(
            name, run_dir, tracking_uri, storage, study_names(name, cells)
        )
    return list(places.values())


def _plan_cells(run_dir: Path, client: MlflowClient, run_id: str) -> list[Any]:
    for read in (
        lambda: (run_dir / "plan.json").read_text(),
        lambda: _artifact_text(client, run_id, "plan.json"),
    ):
        try:
            return list(json.loads(read())["cells"])
        except Exception:
            continue
    return []


def _artifact_text(client: MlflowClient, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, path, tmp)).read_text()


def _sweep_run_status(place: SweepPlace) -> tuple[str, str]:
    """The newest sweep run's status (of this run dir, when its runs say) and its
    incomplete state (`failures.py`) or ""."""
    if not store_exists(place.tracking_uri):
        return "-", ""
    runs = _sweep_runs(MlflowClient(place.tracking_uri), place.name)
    here = _same(place.run_dir)
    mine = [r for r in runs if _same(Path(r.data.tags.get("s3delta.run_dir") or "-")) == here]
    runs = mine or runs
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
    """Read the sweep's state; changes nothing. A store that cannot be read (a server
    away) makes the state `unreachable`, with the reason in `unreachable`."""
    try:
        orphans = mlflow_orphans(place.tracking_uri, place.name, close=False)
        orphans += optuna_orphans(place.storage_url, place.studies, close=False)
        status, incomplete = _sweep_run_status(place)
        driver = _driver(place)
    except Exception as error:  # one sweep's store away: the others still list
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        state = SweepState(place, None, "-")
        state.unreachable = redact_url(f"{type(error).__name__}: {reason}")
        return state
    return SweepState(place, driver, status, orphans, incomplete)


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
    "recorded_places",
    "state_of",
    "study_names",
    "table",
]
