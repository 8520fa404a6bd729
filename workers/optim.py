"""Optimiser parameter groups: per-kind learning-rate multipliers for deltas, and the head.

One shared lr across kinds of different effective scale quietly decides which kinds
the search prefers (spec section 8), so the multiplier per kind (``kind_lr``) is an
explicit, recorded setting of the trial.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from search_space import DeltaSet


def delta_param_groups(
    deltas: DeltaSet, lr: float, kind_lr: dict[str, float]
) -> list[dict[str, Any]]:
    by_kind: dict[str, list[nn.Parameter]] = {}
    for _, delta in deltas.items():
        by_kind.setdefault(delta.kind, []).extend(delta.parameters())
    return [
        {"params": params, "lr": lr * kind_lr.get(kind, 1.0), "name": f"delta:{kind}"}
        for kind, params in by_kind.items()
    ]


def head_group(head: nn.Module | None, lr: float) -> list[dict[str, Any]]:
    return [] if head is None else [{"params": list(head.parameters()), "lr": lr, "name": "head"}]
