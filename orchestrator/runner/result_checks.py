"""A trial that returned is not yet a valid result: its scores must be finite numbers.

A diverged run (a learning rate of 1e309, a NaN loss) can still reach evaluation and
return NaN or infinite scores. MLflow silently drops NaN metrics, so such a trial
would be recorded FINISHED without a score, and Optuna would compare NaN objectives.
The runner fails it instead, with the reason, as Optuna does for a NaN objective.
"""

from __future__ import annotations

import math

from workers.trial_types import TrialResult

SCORES = ("dev_score", "test_score")


def non_finite_reason(result: TrialResult) -> str | None:
    """Why ``result`` is not a valid outcome, or None."""
    for name in SCORES:
        value = getattr(result, name)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return (
                f"NonFiniteResult: {name} is {value!r}: training diverged (a loss or score "
                "became NaN or infinite); lower the learning rates (delta_lr, head_lr, "
                "finetune_lr) or check the data"
            )
    return None
