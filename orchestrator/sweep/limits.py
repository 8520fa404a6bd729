"""Sane bounds on what a sweep file may ask for, each with the way to raise it.

Why: a typo (a million seeds, 10^12 trials, zero steps, a negative batch size) must be
refused by `s3delta validate` in one line, not discovered hours into a run or as an
ETA of 1.7e9 hours. Counts that a real study could legitimately exceed are read from
`S3DELTA_MAX_<NAME>` so a user who means it can raise them.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

# name -> (default maximum, what it counts)
MAXIMA: dict[str, tuple[int, str]] = {
    "seeds": (1_000, "seeds"),
    "trials_per_cell": (10_000, "Optuna trials per cell"),
    "total_trials": (200_000, "trials in the whole sweep"),
    "cells": (10_000, "cells"),
    "steps": (10_000_000, "training steps per phase"),
    "name_length": (100, "characters in a name"),
}
SEED_MAX = 2**32 - 1  # numpy and torch seeds are unsigned 32-bit


def maximum(name: str) -> int:
    """The limit `name`, from `S3DELTA_MAX_<NAME>` when set to a positive whole number."""
    default = MAXIMA[name][0]
    text = os.environ.get(env_name(name), "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else default


def env_name(name: str) -> str:
    return f"S3DELTA_MAX_{name.upper()}"


def over_limit(path: str, name: str, count: int) -> str | None:
    """The problem line when `count` exceeds limit `name`, else None."""
    limit = maximum(name)
    if count <= limit:
        return None
    return (
        f"{path}: {count:,} {MAXIMA[name][1]} is more than the limit of {limit:,}; use fewer, "
        f"or raise the limit with the environment variable {env_name(name)}={count}"
    )


# TrialConfig fields with a lower bound: (bound, inclusive). Everything else numeric
# only needs to be finite (checked over the whole file by `checks.non_finite_problems`).
AT_LEAST_ONE = (
    "batch_size",
    "eval_batch_size",
    "max_length",
    "eval_every",
    "search_steps",
    "structure_updates",
    "retrain_steps",
    "num_threads",
    "max_train_examples",
    "max_eval_examples",
    "search_eval_examples",
    "adapter_width",
)
AT_LEAST_ZERO = ("checkpoint_every", "alpha_warmup_steps", "weight_decay", "beta")
ABOVE_ZERO = (
    "delta_lr",
    "structure_lr",
    "head_lr",
    "finetune_lr",
    "grad_clip",
    "gate_temperature",
    "gate_temperature_final",
    "lora_scale",
)
STEP_FIELDS = (
    "search_steps",
    "structure_updates",
    "retrain_steps",
    "alpha_warmup_steps",
    "eval_every",
)
UPPER: dict[str, int] = {"batch_size": 65_536, "eval_batch_size": 65_536, "max_length": 65_536}
UPPER.update({"num_threads": 1_024, "adapter_width": 65_536})
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda)(:(\d{1,4}))?$")


def field_bound_problems(name: str, value: Any) -> list[str]:
    """Why `value` is out of range for TrialConfig field `name` (reasons start with a verb)."""
    if name == "kind_lr" and isinstance(value, dict):
        return [
            f"sets {kind}: {number}, which must be a number above 0"
            for kind, number in value.items()
            if not isinstance(number, int | float) or isinstance(number, bool) or not number > 0
        ]
    if name == "device" and isinstance(value, str) and not DEVICE_PATTERN.match(value):
        return ["must be auto, cpu, cuda, cuda:<index> or mps"]
    if not isinstance(value, int | float) or isinstance(value, bool):
        return []
    if isinstance(value, float) and not math.isfinite(value):
        return []  # reported once, by the non-finite check
    if name in AT_LEAST_ONE and value < 1:
        return ["must be at least 1"]
    if name in AT_LEAST_ZERO and value < 0:
        return ["must be at least 0"]
    if name in ABOVE_ZERO and not value > 0:
        return ["must be greater than 0"]
    if name in STEP_FIELDS and value > maximum("steps"):
        return [
            f"is more than the limit of {maximum('steps'):,} steps; use fewer, or raise the "
            f"limit with {env_name('steps')}={int(value)}"
        ]
    if name in UPPER and value > UPPER[name]:
        return [f"must be at most {UPPER[name]:,}"]
    return []
