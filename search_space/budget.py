"""Parameter budgets: parse what a user writes, resolve it against a backbone.

A budget is either relative to the backbone's parameter count (``"0.01%"``) or an
absolute number of trainable delta parameters (``20000``). Parsing is syntax only so
that a sweep file can be validated before any model is loaded; `resolve` checks the
budget against the real backbone and its smallest candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


class BudgetError(ValueError):
    """A budget that cannot be used; the message says why and how to fix it."""


FIX = "write a positive percentage such as '0.01%' or a positive parameter count such as 20000"


@dataclass(frozen=True)
class BudgetSpec:
    """A parsed budget: ``kind`` says whether ``value`` is a percentage or a count."""

    kind: Literal["relative", "absolute"]
    value: float
    text: str

    def resolve(self, backbone_params: int, min_candidate: int | None = None) -> int:
        """Absolute parameter count for a backbone; rejects budgets no candidate fits."""
        if self.kind == "relative":
            count = math.floor(self.value / 100.0 * backbone_params)
        else:
            count = int(self.value)
        if min_candidate is not None and count < min_candidate:
            raise BudgetError(
                f"budget {self.text!r} is {count} parameters, smaller than the smallest "
                f"candidate ({min_candidate} parameters) of this {backbone_params:,}-parameter "
                f"backbone: raise it to at least {min_candidate} "
                f"(= {100.0 * min_candidate / backbone_params:.6f}%)"
            )
        if count <= 0:
            raise BudgetError(f"budget {self.text!r} resolves to {count} parameters: {FIX}")
        return count

    @property
    def label(self) -> str:
        """Short, file-name-safe label used in run names."""
        return self.text.replace("%", "pct")


def parse_budget(value: object) -> BudgetSpec:
    """Parse ``'0.01%'``, ``'20000'``, ``20000`` or ``'2e4'``; raise `BudgetError` otherwise."""
    if isinstance(value, bool) or value is None:
        raise BudgetError(f"budget {value!r} is not a number: {FIX}")
    text = str(value).strip()
    relative = text.endswith("%")
    number_text = text[:-1].strip() if relative else text
    try:
        number = float(number_text)
    except ValueError:
        raise BudgetError(f"budget {text!r} is not a number: {FIX}") from None
    if not math.isfinite(number):
        raise BudgetError(f"budget {text!r} is not finite: {FIX}")
    if number <= 0:
        raise BudgetError(f"budget {text!r} must be greater than zero: {FIX}")
    if relative:
        if number > 100:
            raise BudgetError(f"budget {text!r} is more than 100% of the backbone: {FIX}")
        return BudgetSpec("relative", number, text)
    if number != int(number):
        raise BudgetError(
            f"budget {text!r} is a fractional parameter count: {FIX} "
            "(add '%' for a fraction of the backbone)"
        )
    return BudgetSpec("absolute", float(int(number)), text)
