"""Keeping the sweep's PostgreSQL advisory lock: a heartbeat, and taking it again.

The advisory lock lives as long as the driver's database session. A server restart (or
a dropped connection) ends that session and releases the lock silently; before, a second
driver was then admitted while the first went on (issue 23, fault 1). Every
`HEARTBEAT_S` a thread asks the server whether this session still holds the lock. When
it does not, or the session is gone, the thread connects again and takes the lock back,
but only if the sweep's epoch (`fence.py`) is still this driver's: nobody else was
admitted in between. Otherwise, or when the server stays unreachable for `GRACE_S`, the
fence is marked lost and the driver stops at its next loop turn (exit 3).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from orchestrator.paths import redact_url
from orchestrator.runner.fence import Fence

HEARTBEAT_S = 2.0
GRACE_S = 120.0

EPOCH_TABLE = "s3delta_driver_epoch"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def next_db_epoch(conn: Any, sweep: str, holder: str) -> int:
    """Count one more admission of `sweep` in the guard database (lock held)."""
    from sqlalchemy import exc, text

    for attempt in range(3):
        try:
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {EPOCH_TABLE} (sweep TEXT PRIMARY KEY, "
                    "epoch BIGINT NOT NULL, holder TEXT, taken_at TIMESTAMPTZ DEFAULT now())"
                )
            )
            break
        except exc.IntegrityError:  # two drivers of different sweeps created it at once
            if attempt == 2:
                raise
    row = conn.execute(
        text(
            f"INSERT INTO {EPOCH_TABLE} (sweep, epoch, holder) VALUES (:s, 1, :h) "
            f"ON CONFLICT (sweep) DO UPDATE SET epoch = {EPOCH_TABLE}.epoch + 1, "
            "holder = EXCLUDED.holder, taken_at = now() RETURNING epoch"
        ),
        {"s": sweep, "h": holder},
    ).scalar()
    return int(row)


def db_epoch(conn: Any, sweep: str) -> int | None:
    from sqlalchemy import text

    row = conn.execute(text(f"SELECT epoch FROM {EPOCH_TABLE} WHERE sweep = :s"), {"s": sweep})
    value = row.scalar()
    return None if value is None else int(value)


class LockHeartbeat:
    """Checks the held lock every `interval_s`; re-takes it or marks `fence` lost."""

    def __init__(
        self,
        *,
        url: str,
        sweep: str,
        key: tuple[int, int],
        fence: Fence,
        conn: Any,
        engine: Any,
        connect: Any,
        describe_holder: Any,
        interval_s: float = HEARTBEAT_S,
        grace_s: float = GRACE_S,
    ) -> None:
        self.url, self.sweep, self.key, self.fence = url, sweep, key, fence
        self.conn, self.engine = conn, engine
        self._connect = connect  # () -> (engine, autocommit connection)
        self._describe_holder = describe_holder  # () -> str | None
        self.interval_s, self.grace_s = interval_s, grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="s3delta-lock-heartbeat", daemon=True
        )
        self.retaken = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and end the session (PostgreSQL releases the lock)."""
        self._stop.set()
        self._thread.join(timeout=30)
        self._drop()

    def _drop(self) -> None:
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:
            pass
        try:
            if self.engine is not None:
                self.engine.dispose()
        except Exception:
            pass
        self.conn = self.engine = None

    # -- the thread -----------------------------------------------------------------------
    def _held(self) -> bool:
        from sqlalchemy import text

        return bool(
            self.conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objsubid = 2 "
                    "AND classid::bigint = :c AND objid::bigint = :k"
                ),
                {"c": self.key[0], "k": self.key[1]},
            ).scalar()
        )

    def _run(self) -> None:
        down_since: float | None = None
        while not self._stop.wait(self.interval_s):
            if self.fence.lost is not None:
                return
            try:
                if self.conn is not None and self._held():
                    down_since = None
                    continue
            except Exception:
                pass
            where = redact_url(self.url)
            if down_since is None:
                down_since = time.monotonic()
                _say(
                    f"sweep {self.sweep!r}: the driver lock in {where} was lost (connection "
                    f"ended, e.g. a server restart); taking it again (up to {self.grace_s:.0f} s)"
                )
            self._drop()
            try:
                outcome = self._retake()
            except Exception as error:  # still unreachable
                if time.monotonic() - down_since > self.grace_s:
                    self._lose(
                        f"the database {where} holding its driver lock has been unreachable "
                        f"for {self.grace_s:.0f} s ({type(error).__name__}), so another "
                        "driver could be admitted"
                    )
                    return
                continue
            if outcome is None:
                down_since = None
                self.retaken += 1
                _say(f"sweep {self.sweep!r}: driver lock in {where} taken again; going on")
                continue
            self._lose(outcome)
            return

    def _retake(self) -> str | None:
        """Take the lock again on a new session: None when done, else why it cannot be."""
        from sqlalchemy import text

        engine, conn = self._connect()
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :k)"),
                {"c": self.key[0], "k": self.key[1]},
            ).scalar()
            if not got:
                holder = self._describe_holder() or "another driver"
                conn.close()
                engine.dispose()
                return f"its lock in {redact_url(self.url)} is now held by {holder}"
            epoch = db_epoch(conn, self.sweep)
            if epoch != self.fence.epoch:
                conn.close()  # releases the lock we just took
                engine.dispose()
                return (
                    f"another driver was admitted while its lock in {redact_url(self.url)} "
                    f"was lost (sweep epoch {epoch}, this driver's {self.fence.epoch})"
                )
        except BaseException:
            conn.close()
            engine.dispose()
            raise
        self.engine, self.conn = engine, conn
        return None

    def _lose(self, why: str) -> None:
        self.fence.lost = (
            f"sweep {self.sweep!r}: this driver lost its lock: {why}; it stopped scheduling "
            "and left its runs as they are; check `s3delta runs`, then continue with "
            "`s3delta run SWEEP.yaml --resume` once no other driver runs the sweep"
        )
