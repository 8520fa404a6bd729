"""``random-mask``: a seeded random subset of the backbone's own weights, exactly the
budget's count, trained in place (`search_space.random_mask`); no delta modules.

Its learning rate is ``delta_lr`` (what it trains is its delta), tuned in its own cells
like every delta method's; random masking wants a larger one than modules do (Xu & Zhang,
ICML 2024). The trial records the mask's SHA-256 and writes ``random_mask.json`` (indices
and trained values per tensor), which `apply_sparse_delta` writes into the pretrained
model: the native export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.methods.base import Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext

MASK_FILE = "random_mask.json"


class RandomMaskMethod(MethodSpec):
    family = "random-mask"
    uses_budget = True
    fields = frozenset({"delta_lr"})

    def _mask(self, ctx: TrialContext, backbone: torch.nn.Module) -> Any:
        from search_space import backbone_params, parse_budget
        from search_space.random_mask import draw_mask

        count = parse_budget(ctx.cfg.budget).resolve(backbone_params(backbone), 1)
        return draw_mask(backbone, count, ctx.cfg.seed)

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        mask = self._mask(ctx, backbone)
        return None, {"delta_params": mask.count, "budget_params": mask.count}

    def trainable(
        self,
        ctx: TrialContext,
        model: TaskModel,
        backbone: torch.nn.Module,
        structure: Structure | None,
    ) -> list[dict[str, Any]]:
        from search_space.random_mask import train_masked

        params = train_masked(backbone, self._mask(ctx, backbone))
        # weight decay would move every unmasked element of these tensors
        return [{"params": params, "lr": ctx.cfg.delta_lr, "weight_decay": 0.0, "name": "mask"}]

    def after_retrain(
        self,
        ctx: TrialContext,
        model: TaskModel,
        structure: Structure | None,
        info: dict[str, Any],
    ) -> None:
        from search_space.random_mask import sparse_delta

        mask = self._mask(ctx, model.backbone)
        delta = sparse_delta(model.backbone, ctx.load(), mask)
        info.setdefault("records", {})["mask_sha256"] = mask.digest
        info.setdefault("json_artifacts", {})[MASK_FILE] = {
            "model": ctx.cfg.model,
            "seed": mask.seed,
            "count": mask.count,
            "pool_size": mask.pool_size,
            "sha256": mask.digest,
            "tensors": delta,
        }
