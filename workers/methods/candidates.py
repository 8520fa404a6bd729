"""What the budgeted methods share: the candidates of the space, the budget in parameters,
and the structure a chosen set of candidates makes (imported by methods when they run)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from search_space import (
    Candidate,
    Structure,
    backbone_params,
    find_candidates,
    parse_budget,
    structure_from_candidates,
)
from workers.methods.base import Method
from workers.trial_context import TrialContext


@dataclass(frozen=True)
class Space:
    """The candidates of the trial's space on a backbone, and the budget in parameters."""

    candidates: list[Candidate]
    budget: int
    backbone_params: int


def space_at_budget(ctx: TrialContext, backbone: nn.Module) -> Space:
    """The space's candidates on ``backbone`` (pretrained, untouched) and the budget."""
    cfg = ctx.cfg
    n_backbone = backbone_params(backbone)
    cands = find_candidates(backbone, cfg.space)
    budget = parse_budget(cfg.budget).resolve(n_backbone, min(c.size for c in cands))
    return Space(cands, budget, n_backbone)


def structure_of(
    ctx: TrialContext, method: Method, space: Space, chosen: list[Candidate]
) -> Structure:
    """The structure of the ``chosen`` candidates, with the trial's identity in its meta."""
    cfg = ctx.cfg
    meta = {"method": method.name, "task": cfg.task, "seed": cfg.seed, "budget_text": cfg.budget}
    return structure_from_candidates(
        chosen, cfg.model, space.backbone_params, space.budget, cfg.space, meta
    )
