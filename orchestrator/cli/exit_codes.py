"""The exit codes of `s3delta`, one name each, so every command means the same by them.

2 follows Click's usage errors: the input (a sweep file, a path, a name, an option)
cannot work, so nothing was started. 1: the command ran and something failed.
"""

from __future__ import annotations

EXIT_INVALID = 2  # refused before starting: the message says what to change
EXIT_FAILED = 1  # ran, and failed (e.g. a sweep with failed trials, a trial that failed)
EXIT_LOCK_LOST = 3  # the driver lost its sweep's lock and stopped (orchestrator.runner.fence)
EXIT_ENVIRONMENT = 4  # the machine failed it: disk full, a store away (runner.env_faults)
