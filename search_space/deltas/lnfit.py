"""LNFit: a zero-initialised gain delta on a LayerNorm/RMSNorm: h = LN(x) + w * norm(x).

Equivalent to tuning the norm's weight (gamma + w), which is why it exports to PEFT
as a LayerNorm in ``modules_to_save``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.deltas.registry import BuildContext, DeltaKind, NoOptions, PeftPlacement


class LNFitDelta(Delta):
    """Recomputes the un-scaled normalised input so the backbone's weights are never edited."""

    kind = "lnfit"

    def __init__(self, hidden: int, norm_kind: str = "layernorm", eps: float = 1e-12):
        super().__init__()
        self.norm_kind, self.eps = norm_kind, eps
        self.weight = nn.Parameter(torch.zeros(hidden))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        if self.norm_kind == "rmsnorm":
            normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        else:
            mean = xf.mean(-1, keepdim=True)
            var = (xf - mean).pow(2).mean(-1, keepdim=True)
            normed = (xf - mean) * torch.rsqrt(var + self.eps)
        return normed.to(x.dtype)

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        if self.norm_kind == "layernorm":  # one fused kernel: (w * gate) * norm(x)
            return F.layer_norm(x, (x.shape[-1],), self.weight * gate, None, self.eps)
        return (self.weight * gate) * self.normalise(x)


def _norm_eps(module: nn.Module) -> float:
    """The backbone norm's own epsilon (``eps`` or, in T5, ``variance_epsilon``)."""
    eps = getattr(module, "eps", None)
    if eps is None:
        eps = getattr(module, "variance_epsilon", None)
    return 1e-6 if eps is None else float(eps)


def _size(site: Site, options: NoOptions) -> int:
    return site.out_features


def _build(site: Site, options: NoOptions, ctx: BuildContext) -> LNFitDelta:
    return LNFitDelta(site.out_features, site.norm_kind, _norm_eps(ctx.target))


def _peft(target: nn.Module | None, options: NoOptions) -> PeftPlacement | str:
    """Added to a torch LayerNorm's weight (saved through ``modules_to_save``)."""
    if isinstance(target, nn.LayerNorm):
        return PeftPlacement("norm_weight", ("weight",))
    return "only torch LayerNorm gains export through modules_to_save"


LNFIT = DeltaKind(
    name="lnfit",
    sites=("norm",),
    options=NoOptions,
    size=_size,
    build=_build,
    spaces=("M",),
    peft=_peft,
    label="LNFit",
    color="#2ca02c",
)
