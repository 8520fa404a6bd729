"""The deterministic identity of one trial, shared by Optuna, MLflow and the file system.

Why: `--resume` and Ray retries must recognise a trial they have seen before. The key
is the tag `s3delta.key` on the MLflow child run (rule: exactly one FINISHED run per
key) and names the folder holding the trial's outputs and checkpoints, so a retried
attempt finds its own checkpoints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from orchestrator.no_budget import budget_text
from orchestrator.paths import safe_name

Phase = Literal["tune", "final"]
FOLDER_READABLE_MAX = 120  # + "__" + 12 hex digits: well under the 255-byte name limit


@dataclass(frozen=True)
class TrialKey:
    """(sweep, task, method, budget, phase, optuna trial number or seed)."""

    sweep: str
    task: str
    method: str
    budget: str | None
    phase: Phase
    index: int  # Optuna trial number for `tune`, the seed for `final`

    @property
    def budget_text(self) -> str:
        """The budget as written in the sweep, or `none` for budget-free methods."""
        return budget_text(self.budget)

    @property
    def text(self) -> str:
        """The value of the `s3delta.key` tag."""
        marker = f"trial={self.index}" if self.phase == "tune" else f"seed={self.index}"
        return "|".join((self.sweep, self.task, self.method, self.budget_text, self.phase, marker))

    @property
    def folder(self) -> str:
        """A folder name for outputs and checkpoints, injective in the key: the readable
        part folds characters (``manual/st x.json`` and ``manual/st-x.json`` read alike) and
        is shortened to fit a file name, so a hash of the full key text follows it."""
        parts = (self.task, self.method, self.budget_text, self.phase, str(self.index))
        readable = "__".join(safe_name(p) for p in parts)
        if len(readable) > FOLDER_READABLE_MAX:
            readable = readable[:FOLDER_READABLE_MAX].rstrip("-._")
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]
        return f"{readable}__{digest}"

    @property
    def run_name(self) -> str:
        """The MLflow run name shown in the UI, short since the row sits under its cell's
        ("glue/sst2 · s3delta · 0.01%"): "s3delta · 0.01% · seed 2 · final" or
        "s3delta · 0.01% · trial 3 · tune". Nothing reads it back (`--resume` finds runs
        by the `s3delta.key` tag)."""
        who = f"trial {self.index}" if self.phase == "tune" else f"seed {self.index}"
        return " · ".join((self.method, self.budget_text, who, self.phase))

    @property
    def label(self) -> str:
        """The trial in the driver's progress lines: "glue/sst2 s3delta 1% tune trial 0"."""
        who = f"trial {self.index}" if self.phase == "tune" else f"seed {self.index}"
        return f"{self.task} {self.method} {self.budget_text} {self.phase} {who}"

    def tags(self) -> dict[str, str]:
        """The MLflow tags that identify this trial (docs/design.md, MLflow layout)."""
        tags = {
            "s3delta.kind": "trial",
            "s3delta.key": self.text,
            "s3delta.sweep": self.sweep,
            "s3delta.task": self.task,
            "s3delta.method": self.method,
            "s3delta.budget": self.budget_text,
            "s3delta.phase": self.phase,
        }
        if self.phase == "tune":
            tags["s3delta.optuna_trial"] = str(self.index)
        return tags


def study_name(sweep: str, task: str, method: str, budget: str | None) -> str:
    """One Optuna study per (task, method, budget) cell of a sweep."""
    return "/".join((sweep, task, method, budget_text(budget)))
