"""One sweep, one driver: an exclusive lock file in the sweep's run dir.

Two drivers of one sweep race on the MLflow and Optuna schemas and train the same
trial into the same checkpoint folder. The second is refused in one line naming the
holder. The lock is an `flock` on `<run_dir>/driver.lock`, so the kernel releases it
when the holding process dies (kill -9 included): no stale locks to clean up. It guards
drivers that share the run dir's file system; drivers on other machines with their
own run dirs are not seen (use one shared `run_dir`).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.runner.fence import Fence, holding, next_file_epoch

LOCK_FILE = "driver.lock"


class SweepLockedError(RuntimeError):
    """Another driver runs this sweep; the message names it and the fix."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"pid {info['pid']} on {info['host']} (user {info['user']}, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def sweep_lock(run_dir: Path, sweep: str) -> Iterator[Path]:
    """Hold the sweep's driver lock for the duration of the block."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SweepLockedError(
            f"sweep {sweep!r} is already being run by {_holder(path)} (lock {path}); "
            "wait for that driver to finish or stop it, then continue with --resume"
        ) from None
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": getpass.getuser(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with holding(Fence(sweep, next_file_epoch(run_dir), "file")):  # fence.py
            yield path
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def lock_holder(run_dir: Path) -> str | None:
    """Who holds the sweep's driver lock now, or None when no driver runs it (read-only:
    a run dir without a lock file is left as it is)."""
    path = run_dir / LOCK_FILE
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _holder(path)
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return None
