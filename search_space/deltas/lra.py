"""Low-rank adapter (LRA) after a whole attention or FFN block: h' = h + U(gelu(D h)).

D: d -> k and U: k -> d with k = d/32, each a rank-1 factorised matrix plus a bias
(spec section 1), so n = (d + 2k) + (k + 2d). U's output factor starts at zero so a
fresh LRA leaves the block's output unchanged (as LoRA's B = 0 does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.deltas.registry import BuildContext, DeltaKind, NoOptions

REDUCTION = 32  # k = d / 32 (spec section 1)


class LRADelta(Delta):
    """Sequential residual adapter with rank-1 factorised down and up projections."""

    kind = "lra"

    def __init__(self, hidden: int, reduction: int = REDUCTION):
        super().__init__()
        k = max(1, hidden // reduction)
        self.down_u = nn.Parameter(torch.empty(k, 1))
        self.down_v = nn.Parameter(torch.empty(1, hidden))
        self.down_bias = nn.Parameter(torch.zeros(k))
        self.up_u = nn.Parameter(torch.zeros(hidden, 1))
        self.up_v = nn.Parameter(torch.empty(1, k))
        self.up_bias = nn.Parameter(torch.zeros(hidden))
        for p in (self.down_u, self.down_v, self.up_v):
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        h = F.gelu(out @ self.down_v.t() @ self.down_u.t() + self.down_bias)
        return ((h @ self.up_v.t()) * gate) @ self.up_u.t() + self.up_bias * gate


def _size(site: Site, options: NoOptions) -> int:
    d = site.out_features
    k = max(1, d // REDUCTION)
    return (d + 2 * k) + (k + 2 * d)


def _build(site: Site, options: NoOptions, ctx: BuildContext) -> LRADelta:
    return LRADelta(site.out_features)


def _peft(target: nn.Module | None, options: NoOptions) -> str:
    return (
        "PEFT has no low-rank adapter after a whole block (LRA: rank-1 factorised "
        "down/up projections with a GELU)"
    )


LRA = DeltaKind(
    name="lra",
    sites=("block",),
    options=NoOptions,
    size=_size,
    build=_build,
    spaces=("M",),
    peft=_peft,
    label="LRA",
    color="#9467bd",
)
