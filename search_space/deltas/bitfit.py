"""BitFit: a zero-initialised bias added after a Linear or a norm (h = f(x) + b)."""

from __future__ import annotations

import torch
from torch import nn

from search_space.deltas.base import Delta, Site


class BitFitDelta(Delta):
    """A separate bias delta, so the backbone's own bias (if any) stays frozen and unchanged."""

    kind = "bitfit"

    def __init__(self, out_features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(out_features))

    @staticmethod
    def size_at(site: Site) -> int:
        return site.out_features

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return self.bias * gate  # a vector, broadcast onto the output
