"""Bottleneck adapter (manual baseline only) after attention and FFN blocks: h + U gelu(D h)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_space.deltas.base import Delta, Site


class AdapterDelta(Delta):
    """Houlsby-style bottleneck of width m; the up projection starts at zero (identity at init)."""

    kind = "adapter"

    def __init__(self, hidden: int, width: int = 24):
        super().__init__()
        self.down = nn.Linear(hidden, width)
        self.up = nn.Linear(width, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    @staticmethod
    def size_at(site: Site, width: int = 24) -> int:
        d = site.out_features
        return 2 * d * width + width + d

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return F.linear(F.gelu(self.down(out)), self.up.weight * gate, self.up.bias * gate)
