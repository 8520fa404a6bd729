"""What crosses the runner's boundary: how a trial ended, what MLflow holds of a trial,
and how a sweep of any kind ended (`SweepOutcome`, what `s3delta run` prints).

A trial runs as a Ray task (`executor.execute_trial`) and returns a `TrialOutcome`;
Ray pickles return values, so the dataclass and the `TrialResult` inside it arrive as
they left. A resumed driver reads earlier trials back from MLflow as `RecordedTrial`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from workers.trial_types import TrialResult

Status = Literal["ok", "pruned", "failed"]
RunStatus = Literal["FINISHED", "KILLED", "FAILED"]  # MLflow's
RUN_STATUS: dict[Status, RunStatus] = {"ok": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended: ``ok`` with its result, ``pruned`` or ``failed`` with a reason
    and, when it ended early, what it cost until then (a finished result holds its own)."""

    status: Status
    result: TrialResult | None = None
    error: str = ""
    cost: dict[str, float] | None = None  # `workers.cost` figures of a trial that ended early

    @classmethod
    def ok(cls, result: TrialResult) -> TrialOutcome:
        return cls("ok", result)

    @classmethod
    def pruned(cls, reason: str, cost: dict[str, float] | None = None) -> TrialOutcome:
        return cls("pruned", error=reason, cost=cost)

    @classmethod
    def failed(cls, error: str, cost: dict[str, float] | None = None) -> TrialOutcome:
        return cls("failed", error=error, cost=cost)

    @property
    def run_status(self) -> RunStatus:
        """The status of the trial's MLflow run."""
        return RUN_STATUS[self.status]


@dataclass(frozen=True)
class RecordedTrial:
    """A trial as MLflow holds it: its run's status and the figures the driver needs."""

    status: RunStatus
    run_id: str | None = None
    dev_score: float | None = None
    delta_params: float | None = None
    wall_time_s: float | None = None
    test_score: float | None = None  # what seeds until decided compares

    @classmethod
    def of(cls, result: TrialResult) -> RecordedTrial:
        """A trial that just finished with ``result`` (before MLflow is read again)."""
        return cls(
            "FINISHED",
            None,
            result.dev_score,
            result.delta_params,
            result.wall_time_s,
            result.test_score,
        )


class SweepAlreadyRunError(RuntimeError):
    """The sweep name already has records; the message says how to resume or rename."""


@dataclass
class SweepOutcome:
    """What `run_sweep` did: the parent run and how its trials ended."""

    sweep: str
    parent_run_id: str
    run_dir: Path
    tracking_uri: str
    ok: int = 0
    pruned: int = 0
    failed: int = 0
    skipped: int = 0  # already finished before a --resume
    retried: int = 0  # failed trials rerun by this --resume (failures.py)
    incomplete: int = 0  # cells that ended without every final seed
    incomplete_failed: int = 0  # the failed trials of those cells
    failed_keys: list[str] = field(default_factory=list)
