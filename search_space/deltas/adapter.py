"""Bottleneck adapter (manual baseline only) after attention and FFN blocks: h + U gelu(D h)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.deltas.registry import BuildContext, DeltaKind, KindOptions


@dataclass(frozen=True)
class AdapterOptions(KindOptions):
    """The bottleneck width m (the one place its default lives)."""

    width: int = 24


class AdapterDelta(Delta):
    """Houlsby-style bottleneck of width m; the up projection starts at zero (identity at init)."""

    kind = "adapter"

    def __init__(self, hidden: int, width: int):
        super().__init__()
        self.down = nn.Linear(hidden, width)
        self.up = nn.Linear(width, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return F.linear(F.gelu(self.down(out)), self.up.weight * gate, self.up.bias * gate)


def _size(site: Site, options: AdapterOptions) -> int:
    d, width = site.out_features, options.width
    return 2 * d * width + width + d


def _build(site: Site, options: AdapterOptions, ctx: BuildContext) -> AdapterDelta:
    return AdapterDelta(site.out_features, options.width)


# a manual baseline only (in no space); PEFT has no sequential bottleneck after a block
ADAPTER = DeltaKind(
    name="adapter",
    sites=("block",),
    options=AdapterOptions,
    size=_size,
    build=_build,
    label="adapter",
    color="#8c564b",
)
