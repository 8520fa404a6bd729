"""``finetune``: every backbone parameter trained, no delta modules (the usual upper reference)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.methods.base import FINETUNE_FIELDS, Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext


class Finetune(MethodSpec):
    family = "finetune"
    fields = FINETUNE_FIELDS

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        return None, {}

    def trainable(
        self,
        ctx: TrialContext,
        model: TaskModel,
        backbone: torch.nn.Module,
        structure: Structure | None,
    ) -> list[dict[str, Any]]:
        return [
            {"params": list(backbone.parameters()), "lr": ctx.cfg.finetune_lr, "name": "backbone"}
        ]
