"""A watchdog that ends the embedded Ray's processes when its driver dies, `kill -9` included.

Ray ties its GCS and raylet to the driver, but the raylet's dashboard and runtime-env
agents (and idle workers for a while) outlive a driver killed with SIGKILL: they are
reparented to init and stay. A signal handler cannot run on SIGKILL, so the driver
starts this small process first. It holds the read end of a pipe from the driver,
records every second the processes of the Ray session the driver started (the driver's
children whose command line names the session `session_<date>_<driver pid>`, and all
their descendants), and when the pipe closes (the driver exited or died) it terminates
those still alive, then exits. Processes are matched by pid and start time, so a
reused pid is never hit.

It runs as a plain script (`python reaper.py <driver pid>`) in its own session so that
a Ctrl-C or hang-up meant for the driver does not end it first; it imports only the
standard library and psutil.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

POLL_S = 1.0
GRACE_S = 3.0


class Reaper:
    """The driver's handle on its watchdog: `close()` after Ray was shut down."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def close(self, timeout_s: float = 15.0) -> None:
        """Close the pipe: the watchdog ends what is left of Ray, then exits."""
        pipe: IO[bytes] | None = self.proc.stdin
        if pipe is not None and not pipe.closed:
            pipe.close()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_reaper() -> Reaper | None:
    """Start the watchdog for this process's embedded Ray (None where it cannot run)."""
    try:
        import psutil  # noqa: F401  (checked here so the watchdog cannot fail on import)
    except ImportError:
        return None
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Reaper(proc)


def _of_session(proc: Any, marker: re.Pattern[str]) -> bool:
    """Whether `proc` runs for the embedded Ray session this driver started."""
    try:
        return any(marker.search(arg) for arg in proc.cmdline())
    except Exception:  # gone, or not ours to read
        return False


def _remember(driver: Any, known: dict[int, tuple[float, Any]]) -> None:
    """Add the driver's Ray processes: children naming its session, and all below them."""
    marker = re.compile(rf"session_[0-9_-]+_{driver.pid}(?![0-9])")
    try:
        children = driver.children()
    except Exception:  # the driver is gone: keep what was seen
        return
    for child in children:
        if child.pid == os.getpid() or not _of_session(child, marker):
            continue
        try:
            below = child.children(recursive=True)
        except Exception:
            below = []
        for proc in [child, *below]:
            if proc.pid in known:
                continue
            try:
                known[proc.pid] = (proc.create_time(), proc)
            except Exception:
                continue


def _end(known: dict[int, tuple[float, Any]]) -> list[int]:
    import psutil

    alive = []
    for created, proc in known.values():
        try:
            if proc.is_running() and proc.create_time() == created:
                proc.terminate()
                alive.append(proc)
        except psutil.Error:
            continue
    _, left = psutil.wait_procs(alive, timeout=GRACE_S)
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            continue
    return [proc.pid for proc in alive]


def main(argv: list[str]) -> int:
    """Watch the driver `argv[0]` until stdin closes, then end its Ray processes."""
    import psutil

    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # meant for the driver; we end once it has
    try:
        driver = psutil.Process(int(argv[0]))
    except (psutil.Error, ValueError, IndexError):
        return 2
    known: dict[int, tuple[float, Any]] = {}
    fd = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        _remember(driver, known)
        if ready and not os.read(fd, 4096):  # end of file: the driver exited or died
            break
    _end(known)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
