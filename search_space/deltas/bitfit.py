"""BitFit: a zero-initialised bias added after a Linear or a norm (h = f(x) + b)."""

from __future__ import annotations

import torch
from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.deltas.registry import BuildContext, DeltaKind, NoOptions, PeftPlacement


class BitFitDelta(Delta):
    """A separate bias delta, so the backbone's own bias (if any) stays frozen and unchanged."""

    kind = "bitfit"

    def __init__(self, out_features: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(out_features))

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        return self.bias * gate  # a vector, broadcast onto the output


def _size(site: Site, options: NoOptions) -> int:
    return site.out_features


def _build(site: Site, options: NoOptions, ctx: BuildContext) -> BitFitDelta:
    return BitFitDelta(site.out_features)


def _peft(target: nn.Module | None, options: NoOptions) -> PeftPlacement | str:
    """On a Linear: the bias of a LoRA B matrix; on a LayerNorm with a bias: merged into it."""
    if isinstance(target, nn.Linear):
        return PeftPlacement("lora_bias", ("bias",))
    if isinstance(target, nn.LayerNorm) and target.bias is not None:
        return PeftPlacement("norm_bias", ("bias",))
    return "the norm has no bias to merge a BitFit delta into"


BITFIT = DeltaKind(
    name="bitfit",
    sites=("linear", "norm"),
    options=NoOptions,
    size=_size,
    build=_build,
    spaces=("M",),
    site_priority=1,  # offered after the site's own kind: lora then bitfit, lnfit then bitfit
    peft=_peft,
    label="BitFit",
    color="#ff7f0e",
)
