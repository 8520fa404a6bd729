"""``s3delta``: the structure search (spec sections 3-4), then retraining from scratch.

Bi-level search on a 50/50 split of train, best-dev checkpoint, greedy discretisation
under the budget (`workers.structure_search`); the chosen structure is retrained on the
full train set like every other method's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.methods.base import DELTA_FIELDS, SEARCH_PHASE_FIELDS, Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext
    from workers.trial_types import TrialConfig


class S3Delta(MethodSpec):
    family = "s3delta"
    uses_budget = True
    fields = SEARCH_PHASE_FIELDS | DELTA_FIELDS

    def check(self, cfg: TrialConfig) -> str | None:
        if cfg.search_steps <= 0:
            return "search_steps must be positive for s3delta, e.g. 300"
        return None

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from workers.methods.candidates import space_at_budget, structure_of
        from workers.structure_search import search_structure

        space = space_at_budget(ctx, backbone)
        info = search_structure(ctx, backbone, space.budget)
        by_name = {c.name: c for c in space.candidates}
        chosen = [by_name[n] for n in info["chosen"]]
        return structure_of(ctx, method, space, chosen), info
