"""Creating the MLflow and Optuna schemas once, and one driver per sweep across machines.

Two drivers that start at once on a new store both run its schema migrations, and one
of them crashes (MLflow: `duplicate column name: step`; Optuna: `table alembic_version
already exists`). `schema_lock(url)` serialises schema creation per database: an flock
on `<file>.schema-lock` beside a SQLite file, a PostgreSQL advisory lock on a server
(other databases: none). `ensure_schemas` creates both stores under it before the
driver touches them; whoever comes second finds the tables made.

The sweep's file lock (`lock.py`) only sees drivers that share the run dir's file
system. When the Optuna storage (or else the MLflow store) is a PostgreSQL database,
`sweep_db_guard` also holds a session-level advisory lock keyed on the sweep name for
the whole run. PostgreSQL releases it when the driver's connection ends, so a dead
driver leaves no stale lock. The holder is named through the connection's
`application_name` (`s3delta|<pid>|<start>|<host>`), which `pg_stat_activity` shows
to every user. A heartbeat checks the lock every 2 s and takes it again after a server
restart, or stops the driver when another was admitted meanwhile (`db_heartbeat.py`,
`fence.py`).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.paths import redact_url
from orchestrator.runner.db_heartbeat import LockHeartbeat, next_db_epoch
from orchestrator.runner.fence import Fence, holding
from orchestrator.runner.lock import SweepLockedError

SCHEMA_CLASS = 0x53334400  # advisory lock classes ("S3D\0", "S3D\1"): s3delta's own keys
SWEEP_CLASS = 0x53334401
SCHEMA_WAIT_S = 300
APP_NAME_MAX = 63  # PostgreSQL's NAMEDATALEN - 1


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :].split("?", 1)[0]) if url.startswith(prefix) else None


def _is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _engine(url: str, application_name: str | None = None) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    # keepalives: a dead server or network is noticed in seconds, not hours
    connect_args: dict[str, Any] = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    if application_name:
        connect_args["application_name"] = application_name
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


@contextmanager
def schema_lock(url: str, wait_s: float = SCHEMA_WAIT_S) -> Iterator[None]:
    """Hold the database's schema-creation lock (waiting for another process's turn)."""
    db = _sqlite_file(url)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(db.with_name(db.name + ".schema-lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{redact_url(url)}: another process has been creating its "
                            f"tables for over {wait_s:.0f} s; stop it or try again"
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing releases the flock
        return
    if not _is_postgres(url):
        yield
        return
    from sqlalchemy import text

    engine = _engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"SET lock_timeout = '{int(wait_s)}s'"))
            conn.execute(text("SELECT pg_advisory_lock(:c, 0)"), {"c": SCHEMA_CLASS})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:c, 0)"), {"c": SCHEMA_CLASS})
    finally:
        engine.dispose()


def ensure_schemas(tracking_uri: str, storage_url: str | None) -> None:
    """Create the MLflow store and the Optuna storage, one process at a time per database.

    ``storage_url`` None: a sweep kind without an Optuna storage (subspace sweeps)."""
    if tracking_uri.startswith(("sqlite", "postgresql", "mysql", "mssql")):
        from mlflow.tracking import MlflowClient

        with schema_lock(tracking_uri):
            MlflowClient(tracking_uri).search_experiments(max_results=1)  # runs migrations
    if storage_url is None:
        return
    from orchestrator.runner.study import make_storage

    with schema_lock(storage_url):
        storage = make_storage(storage_url)  # creates the tables and alembic_version
        storage.engine.dispose()


def _holder_label() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"s3delta|{os.getpid()}|{started}|{socket.gethostname()}"[:APP_NAME_MAX]


def _describe(label: str | None, backend_pid: int | None) -> str:
    parts = (label or "").split("|")
    if len(parts) == 4 and parts[0] == "s3delta":
        return f"pid {parts[1]} on {parts[3]} (since {parts[2]})"
    return f"another driver (PostgreSQL backend pid {backend_pid})"


def sweep_key(sweep: str) -> int:
    """The sweep's advisory lock key: a 31-bit hash of its name."""
    return zlib.crc32(sweep.encode("utf-8")) & 0x7FFFFFFF


def guard_url(tracking_uri: str, storage_url: str) -> str | None:
    """The shared database that guards the sweep: Optuna's if PostgreSQL, else MLflow's."""
    for url in (storage_url, tracking_uri):
        if _is_postgres(url):
            return url
    return None


def db_holder(url: str, sweep: str) -> str | None:
    """Who holds the sweep's advisory lock on `url` now, or None when it is free."""
    from sqlalchemy import text

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT a.application_name, l.pid FROM pg_locks l "
                    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                    "AND l.classid::bigint = :c AND l.objid::bigint = :k "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                ),
                {"c": SWEEP_CLASS, "k": sweep_key(sweep)},
            ).first()
    finally:
        engine.dispose()
    return None if row is None else _describe(row[0], row[1])


@contextmanager
def sweep_db_guard(tracking_uri: str, storage_url: str, sweep: str) -> Iterator[str | None]:
    """Hold the sweep's advisory lock on its shared database for the block (no-op without one).

    Raises `SweepLockedError` naming the holder when another driver holds it."""
    url = guard_url(tracking_uri, storage_url)
    if url is None:
        yield None
        return
    from sqlalchemy import text

    label = _holder_label()

    def connect() -> tuple[Any, Any]:
        engine = _engine(url, application_name=label)
        try:
            return engine, engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            engine.dispose()
            raise

    engine, conn = connect()
    beat: LockHeartbeat | None = None
    try:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": SWEEP_CLASS, "k": sweep_key(sweep)}
        ).scalar()
        if not got:
            holder = db_holder(url, sweep) or "another driver"
            raise SweepLockedError(
                f"sweep {sweep!r} is already being run by {holder}, seen through its lock in "
                f"{redact_url(url)}; wait for that driver to finish or stop it, then continue "
                "with --resume"
            )
        # an epoch fences off a driver that lost this lock; a heartbeat checks it is held
        fence = Fence(sweep, next_db_epoch(conn, sweep, label), "db")
        beat = LockHeartbeat(
            url=url,
            sweep=sweep,
            key=(SWEEP_CLASS, sweep_key(sweep)),
            fence=fence,
            conn=conn,
            engine=engine,
            connect=connect,
            describe_holder=lambda: db_holder(url, sweep),
        )
        beat.start()
        with holding(fence):
            yield url
    finally:
        if beat is not None:
            beat.close()  # ends the session: PostgreSQL releases the advisory lock
        else:
            conn.close()
            engine.dispose()
