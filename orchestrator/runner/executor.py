"""Running one trial as a Ray task with its CPU/GPU share, retries and pruning hook.

Why tasks (not actors): Ray re-executes a task whose worker process died
(`max_retries`), and the trial resumes by itself from the newest checkpoint in
`cfg.checkpoint_dir`; actors would need their own restart bookkeeping. Many trials
share a GPU when `num_gpus` is fractional. Application errors are returned as values
(not retried: they are deterministic); only lost workers are retried.

Each attempt appends `{pid, host, time}` to `<output_dir>/attempts.jsonl`, which
records how many times a trial was (re)started and lets tests kill a live worker.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle

from orchestrator.runner.fence import lease_holds, take_lease
from orchestrator.runner.hub import ProgressHub
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.result_checks import non_finite_reason
from workers.trial_types import TrialConfig

FLUSH_EVERY_S = 2.0
ATTEMPTS_FILE = "attempts.jsonl"
_REMOTE_TRIAL: Any = None  # the Ray remote function, made once per driver process


class HubReporter:
    """The trial's progress callback: buffers events, flushes them to the hub, and
    raises `optuna.TrialPruned` when the driver has marked the trial to stop."""

    def __init__(
        self,
        hub: ActorHandle[ProgressHub] | None,
        key: str,
        folder: str | None = None,
        lease: str | None = None,
    ) -> None:
        self._hub = hub
        self._key = key
        self._folder, self._lease = folder, lease  # the trial folder's lease (fence.py)
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()

    def __call__(self, event: Any) -> None:
        if not lease_holds(self._folder, self._lease):
            raise TrialSuperseded(_superseded(self._key))
        record = {
            "phase": event.phase,
            "step": int(event.step),
            "total_steps": int(event.total_steps),
            "metrics": {k: float(v) for k, v in event.metrics.items()},
            "time": time.time(),
        }
        self._buffer.append(record)
        has_score = any(name.endswith("dev_score") for name in record["metrics"])
        if has_score or time.monotonic() - self._last_flush > FLUSH_EVERY_S:
            self.flush()

    def flush(self, check_stop: bool = True) -> None:
        """Send buffered events; stop the trial if the driver pruned it."""
        if self._hub is None:
            self._buffer.clear()
            return
        if not self._buffer and not check_stop:
            return
        events, self._buffer = self._buffer, []
        should_stop = bool(ray.get(self._hub.push.remote(self._key, events)))
        self._last_flush = time.monotonic()
        if should_stop and check_stop:
            import optuna

            raise optuna.TrialPruned(f"pruned by the driver ({self._key})")


class TrialSuperseded(RuntimeError):
    """A newer driver took this trial's folder: stop without writing to it."""


def _superseded(key: str) -> str:
    return (
        f"trial {key}: a newer driver of the sweep took this trial's folder (lease.json); "
        "this attempt stopped without writing"
    )


def _record_attempt(output_dir: str | None) -> None:
    if not output_dir:
        return
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    line = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
    with open(Path(output_dir) / ATTEMPTS_FILE, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def execute_trial(
    cfg: TrialConfig, key: str, hub: ActorHandle[ProgressHub] | None, lease: str | None = None
) -> TrialOutcome:
    """Run one trial in this process; application errors come back as a failed outcome.

    `lease`: the token of the driver's lease on the trial folder; the trial does nothing
    once another driver's lease replaced it."""
    from orchestrator.quiet import quiet_libraries

    quiet_libraries()  # no library progress bars / INFO lines in the driver's log
    import optuna
    import torch

    from workers.cost import CostMeter
    from workers.trial import run_trial

    quiet_libraries()  # again, now that transformers is imported
    if not lease_holds(cfg.output_dir, lease):
        return TrialOutcome.failed(_superseded(key))
    _record_attempt(cfg.output_dir)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    reporter = HubReporter(hub, key, cfg.output_dir, lease)
    meter = CostMeter()  # what a trial that ends early cost (a finished one reports its own)
    try:
        result = run_trial(cfg, reporter)
    except optuna.TrialPruned as pruned:
        reporter.flush(check_stop=False)
        return TrialOutcome.pruned(str(pruned), meter.finish())
    except Exception:
        reporter.flush(check_stop=False)
        return TrialOutcome.failed(traceback.format_exc(limit=20), meter.finish())
    reporter.flush(check_stop=False)
    reason = non_finite_reason(result)
    if reason:
        return TrialOutcome.failed(reason)
    return TrialOutcome.ok(result)


def start_hub() -> ActorHandle[ProgressHub]:
    """The sweep's progress hub actor (no CPU, lives as long as the driver)."""
    hub: ActorHandle[ProgressHub] = ray.remote(num_cpus=0)(ProgressHub).remote()  # type: ignore[assignment]
    return hub


def submit_trial(
    cfg: TrialConfig,
    key: str,
    hub: ActorHandle[ProgressHub],
    *,
    num_cpus: float,
    num_gpus: float,
    max_retries: int,
) -> ray.ObjectRef:
    """Start a trial as a Ray task holding `num_cpus` CPUs and `num_gpus` GPUs, after
    taking the driver's lease on its folder (`fence.py`; raises `DriverLostError` when a
    newer driver holds it)."""
    lease = take_lease(Path(cfg.output_dir), key) if cfg.output_dir else None
    global _REMOTE_TRIAL
    if _REMOTE_TRIAL is None:
        _REMOTE_TRIAL = ray.remote(execute_trial)
    remote = _REMOTE_TRIAL.options(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_retries=max_retries,
        retry_exceptions=False,
        name=f"trial {key}",
    )
    return remote.remote(cfg, key, hub, lease)
