"""LoRA parallel to a Linear: h = W x + s * B A x, A Kaiming-uniform, B = 0 (spec section 1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from search_space.deltas.base import Delta, Site


class LoRADelta(Delta):
    """Rank-r update; ``scale`` is PEFT's lora_alpha / r (1.0 by default, see spec section 8)."""

    kind = "lora"

    def __init__(self, in_features: int, out_features: int, rank: int = 1, scale: float = 1.0):
        super().__init__()
        self.rank, self.scale = rank, scale
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default init

    @staticmethod
    def size_at(site: Site, rank: int = 1) -> int:
        return rank * (site.in_features + site.out_features)

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return ((x @ self.lora_A.t()) * (gate * self.scale)) @ self.lora_B.t()
