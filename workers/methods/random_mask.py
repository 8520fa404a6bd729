"""``random-mask``: a seeded random subset of the backbone's own weights, exactly the
budget's count, trained in place (`search_space.random_mask`); no delta modules.

Its learning rate is ``delta_lr`` (what it trains is its delta), tuned in its own cells
like every delta method's; random masking wants a larger one than modules do (Xu & Zhang,
ICML 2024). The trial records the mask's SHA-256 and writes ``random_mask.safetensors``
(indices and trained values per tensor, the head, and the mask's identity in its
metadata; `search_space.read_delta` reads it), which `apply_mask_tensors` writes into the
pretrained model: the native export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.methods.base import Found, Method, MethodSpec

if TYPE_CHECKING:
    import torch

    from search_space import Structure
    from workers.task_model import TaskModel
    from workers.trial_context import TrialContext

MASK_FILE = "random_mask.safetensors"


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
        from search_space import backbone_fingerprint, save_delta
        from search_space.random_mask import mask_tensors

        mask = self._mask(ctx, model.backbone)
        info.setdefault("records", {})["mask_sha256"] = mask.digest
        tensors = mask_tensors(model.backbone, mask)
        head = {} if model.head is None else dict(model.head.state_dict())
        meta = {
            "method": self.family,
            "model": ctx.cfg.model,
            "task": model.spec.name,
            "pooling": model.pooling,
            "seed": str(mask.seed),
            "count": str(mask.count),
            "pool_size": str(mask.pool_size),
            "mask_sha256": mask.digest,
        }
        fingerprint = backbone_fingerprint(ctx.load())  # of the pretrained backbone
        info.setdefault("artifact_writers", {})[MASK_FILE] = lambda path: save_delta(
            path, tensors, None, fingerprint, head=head, extra=meta
        )
