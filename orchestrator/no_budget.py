"""How a cell without a budget is written wherever a budget is stored or shown as text.

Budget-free methods (manual baselines, fine-tuning) run at their own natural size: their
budget is None in the plan and ``none`` in every text form, the `s3delta.budget` MLflow
tag, the trial key and its folder name, the Optuna study name, plan.json and the tables.
The text is stored, and `--resume` finds earlier trials, studies and folders by it, so
it must not change.
"""

from __future__ import annotations

NO_BUDGET = "none"


def budget_text(budget: str | None) -> str:
    """The budget as the sweep wrote it, or `NO_BUDGET` for budget-free methods."""
    return NO_BUDGET if budget is None else str(budget)
