"""``random``: a seeded random structure at the budget (spec section 5), retrained like s3delta's.

The control the search must beat: same space, same budget, same retraining, no search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.methods.base import DELTA_FIELDS, Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext


class RandomStructure(MethodSpec):
    family = "random"
    uses_budget = True
    fields = DELTA_FIELDS

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from search_space import random_select
        from workers.methods.candidates import space_at_budget, structure_of

        space = space_at_budget(ctx, backbone)
        chosen = random_select(space.candidates, space.budget, ctx.cfg.seed)
        return structure_of(ctx, method, space, chosen), {}
