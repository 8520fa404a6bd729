"""Never two drivers: the driver's fencing epoch, its lost-lock flag, and per-trial leases.

A driver holds its sweep's locks (`lock.py`, `db_lock.py`) for its whole run. Taking
them gives it an *epoch*: a number one higher than any driver (or `runs --gc`) of the
sweep had before, counted in the guard database (PostgreSQL) or else in
`<run dir>/driver.epoch`. The epoch fences off a driver that has lost its lock without
noticing at once (a PostgreSQL restart drops the advisory lock with its session):

- `Fence.lost` is set by the lock's heartbeat (`db_lock.py`) when the lock cannot be
  taken again under the same epoch; the driver checks it every loop turn and stops
  scheduling (`DriverLostError`, exit 3), without writing to the stores again, which by
  then may belong to another driver.
- Every trial folder holds a lease, `lease.json` (epoch, token, pid, host), written by the
  driver when it submits the trial. A driver whose epoch is below the lease's cannot
  take the folder, and a trial process whose token is no longer the lease's stops at its
  next progress report without writing (`lease_holds`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEASE_FILE = "lease.json"
EPOCH_FILE = "driver.epoch"
EXIT_LOCK_LOST = 3  # mirrored in orchestrator.cli.exit_codes


class DriverLostError(RuntimeError):
    """This driver no longer holds its sweep: another may run it. Stop, write nothing."""

    exit_code = EXIT_LOCK_LOST


@dataclass
class Fence:
    """What the running driver holds: its epoch (`scope` says where it was counted)."""

    sweep: str
    epoch: int
    scope: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lost: str | None = None

    def check(self) -> None:
        if self.lost is not None:
            raise DriverLostError(self.lost)


_current: Fence | None = None


def current() -> Fence | None:
    """The fence of the driver running in this process, if any."""
    return _current


def check() -> None:
    """Raise `DriverLostError` when this process's driver has lost its sweep."""
    if _current is not None:
        _current.check()


def is_lost() -> bool:
    return _current is not None and _current.lost is not None


@contextlib.contextmanager
def holding(fence: Fence) -> Iterator[Fence]:
    """Make `fence` this process's current one for the block (an inner one wins)."""
    global _current
    before, _current = _current, fence
    try:
        yield fence
    finally:
        _current = before


def next_file_epoch(run_dir: Path) -> int:
    """One more than the run dir's last epoch (call with the run dir's lock held)."""
    path = run_dir / EPOCH_FILE
    try:
        last = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        last = 0
    _write_atomic(path, f"{last + 1}\n")
    return last + 1


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_lease(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / LEASE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def take_lease(folder: Path, key: str) -> str | None:
    """Write this driver's lease on a trial folder before the trial starts; its token.

    Raises `DriverLostError` when a driver with a higher epoch of the same scope holds
    the folder (this driver has been superseded). Without a current fence: no lease."""
    fence = _current
    if fence is None:
        return None
    fence.check()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lease.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held = read_lease(folder)
        if (
            held is not None
            and held.get("scope") == fence.scope
            and int(held.get("epoch", 0)) > fence.epoch
        ):
            fence.lost = (
                f"sweep {fence.sweep!r}: trial {key} is held by a newer driver (epoch "
                f"{held.get('epoch')}, pid {held.get('pid')} on {held.get('host')}) than this one "
                f"(epoch {fence.epoch}); this driver stops and leaves the sweep to it"
            )
            raise DriverLostError(fence.lost)
        lease = {
            "sweep": fence.sweep,
            "key": key,
            "epoch": fence.epoch,
            "scope": fence.scope,
            "token": fence.token,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
        }
        _write_atomic(folder / LEASE_FILE, json.dumps(lease))
    return fence.token


def check_trial(folder: str | Path | None, key: str = "") -> None:
    """Before the driver records a trial: raise `DriverLostError` when it lost the sweep
    or another driver's lease replaced its own on the trial's folder."""
    fence = _current
    if fence is None:
        return
    fence.check()
    if not lease_holds(folder, fence.token):
        held = read_lease(Path(str(folder))) or {}
        fence.lost = (
            f"sweep {fence.sweep!r}: trial {key or folder} was taken over by another driver "
            f"(pid {held.get('pid')} on {held.get('host')}, epoch {held.get('epoch')}); this "
            "driver stopped scheduling and wrote nothing more"
        )
        raise DriverLostError(fence.lost)


def lease_holds(folder: str | Path | None, token: str | None) -> bool:
    """Whether the trial folder's lease is still `token`'s (True without a lease)."""
    if not folder or not token:
        return True
    held = read_lease(Path(folder))
    return held is None or held.get("token") == token
