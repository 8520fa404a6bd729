"""One way to start a sweep of any experiment kind: resources, one driver, signals, Ray.

Every kind's driver runs inside `launch`, in this order: the trial shape is checked
against the cluster (embedded: this machine) before any file or store is touched; the
sweep file is copied with its passwords removed (the copy the driver logs); one driver
per sweep (a file lock in the run folder, and an advisory lock in the shared database
when the stores live on a server); embedded Ray gets a watchdog for a kill -9
(`reaper.py`); SIGTERM/SIGINT/SIGHUP stop the driver (`stop.py`); the stores' schemas
are created once. On any way out but success Ray is shut down first, then the kind's
``cleanup`` closes the records its driver left open.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import ray

from orchestrator.runner.cluster import (
    RayConnection,
    check_resources,
    connect_ray,
    disconnect_ray,
    local_resources,
)
from orchestrator.runner.db_lock import ensure_schemas, sweep_db_guard
from orchestrator.runner.env_faults import environment_fault, sweep_places
from orchestrator.runner.lock import sweep_lock
from orchestrator.runner.logged_copy import redacted_copy
from orchestrator.runner.reaper import start_reaper
from orchestrator.runner.stop import DriverStopped, stop_on_signals

Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class Launch:
    """What a kind's driver gets: the Ray connection and the sweep file's logged copy."""

    connection: RayConnection
    logged: Path


@dataclass(frozen=True)
class Place:
    """Where a sweep runs and writes: the stores are None-free URLs except ``storage_url``
    (None: a kind without an Optuna storage)."""

    name: str
    run_dir: Path
    tracking_uri: str
    storage_url: str | None
    address: str | None
    shape: tuple[float, float]  # CPUs and GPUs of one trial


def launch(
    drive: Callable[[Launch], Outcome],
    sweep_path: Path,
    place: Place,
    *,
    cleanup: Callable[[], None] | None = None,
    keep: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Run ``drive`` under the guards above; ``cleanup`` runs after Ray is shut down when
    ``drive`` raises anything but one of ``keep`` (errors raised before any work)."""
    connection: RayConnection | None = None
    if place.address is None and not ray.is_initialized():  # embedded: known before start
        check_resources(RayConnection("embedded", "", True, local_resources()), *place.shape)
    elif place.address is not None and not ray.is_initialized():
        connection = connect_ray(place.address)  # a cluster: asked before any file or store
        try:
            check_resources(connection, *place.shape)
        except BaseException:
            disconnect_ray(connection)
            raise
    try:
        with tempfile.TemporaryDirectory(prefix="s3delta-sweep-") as tmp:
            # the copies in run_dir and on the parent run never hold a password
            logged = redacted_copy(sweep_path, Path(tmp))
            with (
                sweep_lock(place.run_dir, place.name),
                sweep_db_guard(place.tracking_uri, place.storage_url or "", place.name),
            ):
                embedded = connection is None and not ray.is_initialized()
                reaper = start_reaper() if embedded else None
                try:
                    connection = connection or connect_ray(place.address)
                    with stop_on_signals():  # after ray.init, which sets its own SIGTERM handler
                        ensure_schemas(place.tracking_uri, place.storage_url)
                        try:
                            return drive(Launch(connection, logged))
                        except keep:
                            raise
                        except BaseException:
                            disconnect_ray(connection)  # stop the trials, then close records
                            connection = None
                            if cleanup is not None:
                                cleanup()
                            raise
                finally:
                    if connection is not None:
                        disconnect_ray(connection)
                        connection = None
                    if reaper is not None:
                        reaper.close()
    except Exception as error:  # a full disk, a store away: one line (env_faults.py)
        stopped = stopped_in(error)
        if stopped is not None:  # stopped, then a store failed the cleanup: still a stop
            stopped.records_left_open = True
            raise stopped from None
        fault = environment_fault(
            error, sweep_places(place.run_dir, place.tracking_uri, place.storage_url)
        )
        if fault is None:
            raise
        raise fault from None
    finally:
        if connection is not None:
            disconnect_ray(connection)


def stopped_in(error: BaseException) -> DriverStopped | None:
    """The stop signal an error's chain began with, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DriverStopped):
            return current
        current = current.__cause__ or current.__context__
    return None
