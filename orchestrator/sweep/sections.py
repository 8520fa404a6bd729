"""The sweep file's settings sections: optuna, pruning, resources, mlflow.

Each is a strict pydantic model (unknown keys and wrong types are errors) so that a
typo such as ``trails_per_cell`` fails at validation instead of silently using a
default for a multi-hour sweep.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from orchestrator.locations import storage_url, tracking_uri
from orchestrator.sweep.errors import short
from orchestrator.sweep.limits import SEED_MAX, maximum

EXPERIMENT_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 _-]|\.(?!\.))*$")


def base_dir_of(info: ValidationInfo) -> Path:
    """The folder relative paths resolve against: the sweep file's, else the working dir."""
    context = info.context or {}
    return Path(context.get("base_dir") or Path.cwd())


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OptunaSettings(_Section):
    """How Optuna tunes each cell: sampler, its seed, trials per cell, shared storage."""

    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    seed: int = Field(default=0, ge=0, le=SEED_MAX)
    trials_per_cell: int = Field(default=8, ge=1)
    storage: str | None = None  # None: a sqlite file under run_dir
    objective: Literal["score", "score_vs_size"] = "score"

    @field_validator("storage")
    @classmethod
    def _absolute_storage(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else storage_url(value, base_dir_of(info))

    @property
    def multi_objective(self) -> bool:
        """Score vs size: maximise the dev score and minimise trainable parameters."""
        return self.objective == "score_vs_size"


class PruningSettings(_Section):
    """Early stopping of weak tuning trials on their intermediate dev scores."""

    enabled: bool | None = None  # None: on for single-objective studies (Optuna can't prune others)
    kind: Literal["asha"] = "asha"
    min_steps: int = Field(default=50, ge=1)
    reduction_factor: int = Field(default=3, ge=2)


class ResourceSettings(_Section):
    """What one trial asks Ray for, and how many trials may run at once."""

    cpus_per_trial: float = Field(default=1.0, gt=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    max_concurrent: int | None = Field(default=None, ge=1)  # None: as many as fit

    @field_validator("gpus_per_trial")
    @classmethod
    def _schedulable_gpus(cls, value: float) -> float:
        if value > 1 and not float(value).is_integer():
            raise ValueError(
                f"{value} GPUs cannot be scheduled: a trial takes a fraction of one GPU "
                "(0 to 1, e.g. 0.25) or a whole number of GPUs (2, not 1.5)"
            )
        return value


class MlflowSettings(_Section):
    """Where results are tracked."""

    tracking_uri: str | None = None  # None: sqlite file under run_dir
    experiment: str = Field(default="s3delta", min_length=1)

    @field_validator("experiment")
    @classmethod
    def _safe_experiment(cls, value: str) -> str:
        """The name becomes a folder of the artifact store: no '/', no '..', no control chars."""
        if len(value) > maximum("name_length") or not EXPERIMENT_PATTERN.match(value):
            raise ValueError(
                f"{short(value)} is not a safe experiment name (it names a folder of the "
                "artifact store, so '/', '\\' and '..' could climb out of it); use at most "
                f"{maximum('name_length')} letters, digits, spaces, '.', '_' or '-', starting "
                "with a letter or digit"
            )
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _usable_uri(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else tracking_uri(value, base_dir_of(info))
