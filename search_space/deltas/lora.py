"""LoRA parallel to a Linear: h = W x + s * B A x, A Kaiming-uniform, B = 0 (spec section 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.deltas.registry import (
    BuildContext,
    DeltaKind,
    KindOptions,
    PeftPlacement,
)


@dataclass(frozen=True)
class LoRAOptions(KindOptions):
    """LoRA's rank r (a space's candidates are rank 1)."""

    rank: int = 1


class LoRADelta(Delta):
    """Rank-r update; ``scale`` is PEFT's lora_alpha / r (1.0 by default, see spec section 8)."""

    kind = "lora"

    def __init__(self, in_features: int, out_features: int, rank: int = 1, scale: float = 1.0):
        super().__init__()
        self.rank, self.scale = rank, scale
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default init

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return ((x @ self.lora_A.t()) * (gate * self.scale)) @ self.lora_B.t()


def _size(site: Site, options: LoRAOptions) -> int:
    return options.rank * (site.in_features + site.out_features)


def _build(site: Site, options: LoRAOptions, ctx: BuildContext) -> LoRADelta:
    return LoRADelta(site.in_features, site.out_features, options.rank, ctx.lora_scale)


def _peft(target: nn.Module | None, options: LoRAOptions) -> PeftPlacement:
    return PeftPlacement("lora", ("lora_A", "lora_B"), rank=options.rank)


LORA = DeltaKind(
    name="lora",
    sites=("linear",),
    options=LoRAOptions,
    size=_size,
    build=_build,
    spaces=("M", "L"),
    peft=_peft,
    label="LoRA",
    color="#1f77b4",
)
