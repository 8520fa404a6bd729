"""``s3delta``: the structure search (spec sections 3-4), then retraining from scratch.

Bi-level search on a 50/50 split of train, best-dev checkpoint, greedy discretisation
under the budget (`workers.structure_search`); the chosen structure is retrained on the
full train set like every other method's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.methods.base import DELTA_FIELDS, SEARCH_PHASE_FIELDS, Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext
    from workers.trial_types import TrialConfig


class S3Delta(MethodSpec):
    family = "s3delta"
    uses_budget = True
    fields = SEARCH_PHASE_FIELDS | DELTA_FIELDS
    one_search = True

    def check(self, cfg: TrialConfig) -> str | None:
        if cfg.search_steps <= 0:
            return "search_steps must be positive for s3delta, e.g. 300"
        return None

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from workers.methods.candidates import space_at_budget, structure_of
        from workers.structure_search import search_structure

        space = space_at_budget(ctx, backbone)
        if ctx.cfg.logits_from:  # one search, every budget: no search in this trial
            from workers.methods.one_search import structure_from_logits

            chosen, info = structure_from_logits(ctx, space)
            structure = structure_of(ctx, method, space, chosen)
            structure.meta["one_search"] = info["one_search"]  # where the structure came from
            return structure, info
        info = search_structure(ctx, backbone, space.budget)
        by_name = {c.name: c for c in space.candidates}
        chosen = [by_name[n] for n in info["chosen"]]
        info["json_artifacts"] = {"logits.json": logits_record(ctx, space.budget, info)}
        return structure_of(ctx, method, space, chosen), info


def logits_record(ctx: TrialContext, budget: int, info: dict[str, Any]) -> dict[str, Any]:
    """What a search leaves for the structures at other budgets (`workers.methods.one_search`)."""
    cfg = ctx.cfg
    return {
        "format": "s3delta.logits",
        "model": cfg.model,
        "space": cfg.space,
        "task": cfg.task,
        "seed": cfg.seed,
        "budget_text": cfg.budget,
        "budget": budget,
        "beta": cfg.beta,
        "rescale": cfg.rescale,
        "fittable_only": cfg.search_fittable_only,
        "logits": info.get("logits") or {},
    }
