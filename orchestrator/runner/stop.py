"""A driver stopped by SIGTERM, SIGINT or SIGHUP ends what it started before it exits.

Without handlers a SIGHUP (closed terminal) or SIGTERM (`kill`, a scheduler) ends the
driver at once: its MLflow runs and Optuna trials stay RUNNING and the embedded Ray's
agents live on. Inside `stop_on_signals()` the first of these signals raises
`DriverStopped` (a KeyboardInterrupt, so the driver's own cleanup treats it like
Ctrl-C) in the main thread; the cleanup then shuts Ray down and closes the records. A
second signal during that cleanup acts as it would without us (the process ends); the
watchdog (`reaper.py`) and `s3delta runs --gc` deal with what is left then.

Installed after `ray.init`, which sets its own SIGTERM handler (exit at once).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from orchestrator.runner.store_retry import stop_now, wait_again

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class DriverStopped(KeyboardInterrupt):
    """The driver received a stop signal; `signum` says which."""

    records_left_open = False  # the cleanup could not reach a store (left for --gc)

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell convention for death by a signal."""
        return 128 + self.signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the first stop signal into `DriverStopped` for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wait_again()  # an earlier driver of this process may have been stopped
    previous: dict[signal.Signals, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in SIGNALS:  # a second signal ends the process as usual
            signal.signal(sig, signal.SIG_DFL)
        stop_now()  # no more waiting for a store that is away: end within seconds
        received.append(signum)
        raise DriverStopped(signum)

    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    except KeyboardInterrupt as interrupt:
        # Ray's blocking calls (ray.wait, ray.get) turn any exception from a signal
        # handler into a plain KeyboardInterrupt: say again which signal it was
        if received and not isinstance(interrupt, DriverStopped):
            raise DriverStopped(received[0]) from None
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
