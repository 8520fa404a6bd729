"""``uniform``: the budget spread as evenly over the layers as it allows (the same kind at
the same role in as many layers as fit; rule in `search_space.uniform`), retrained like
s3delta's. The cheap hand-placed layout a search has to beat besides ``random``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.methods.base import DELTA_FIELDS, Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext


class Uniform(MethodSpec):
    family = "uniform"
    uses_budget = True
    fields = DELTA_FIELDS

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from search_space import uniform_select
        from workers.methods.candidates import space_at_budget, structure_of

        space = space_at_budget(ctx, backbone)
        chosen = uniform_select(space.candidates, space.budget)
        return structure_of(ctx, method, space, chosen), {}
