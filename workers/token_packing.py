"""Frozen encoder linears computed on a batch's real tokens only (padding skipped).

Training batches are trimmed to their longest row, but rows are drawn at random, so most
of a batch is still padding: 62% of the tokens of an SST-2 batch of 16 at length 48, 47%
on RTE at 128 (measured in benchmarks/bench_trial_breakdown.py). The encoder's linears
(q, k, v, o, ffn_in, ffn_out) are almost all of a step's FLOPs and work row by row, so
they run on the gathered real tokens and scatter back into a zero tensor of the padded
shape. Everything else (dropout, layer norms, attention, the deltas' hooks) still sees
the padded shape, so dropout draws the same random numbers as before and a pad
position's value never reaches a real one: attention masks pad keys to weight exactly 0
and pooling masks pad rows. Scores are the same up to floating-point rounding (tested).

Encoder-only backbones; T5's cross-attention mixes two lengths, so it is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from search_space.families import UnsupportedModelError
from search_space.positions import find_sites

# below this share of padding the gather and scatter cost more than they save
MIN_PADDING = 0.1


class PackedLinear(nn.Linear):
    """An ``nn.Linear`` that, while its `TokenPacking` holds a batch's real-token index,
    multiplies only those rows. Swapped in by class, so parameters, names, hooks and
    state dicts are the original module's."""

    packing: TokenPacking

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.packing.keep
        if keep is None or x.shape[:-1].numel() != self.packing.rows:
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(-1, x.shape[-1])
        y = F.linear(flat.index_select(0, keep), self.weight, self.bias)
        out = y.new_zeros(flat.shape[0], y.shape[-1]).index_copy(0, keep, y)
        return out.view(*x.shape[:-1], y.shape[-1])


class TokenPacking:
    """Makes a backbone's encoder linears skip padding inside `active`."""

    def __init__(self, backbone: nn.Module) -> None:
        self.keep: torch.Tensor | None = None
        self.rows = 0
        self.linears: list[nn.Linear] = []
        modules = dict(backbone.named_modules())
        try:
            sites = find_sites(backbone)
        except UnsupportedModelError:  # a family without site rules: run it as it is
            sites = []
        for site in sites:
            module = modules[site.path]
            if site.site_type != "linear" or site.stack != "encoder":
                continue
            if type(module) is nn.Linear:
                module.__class__ = PackedLinear
            if isinstance(module, PackedLinear):
                module.packing = self
                self.linears.append(module)

    @contextmanager
    def active(self, attention_mask: torch.Tensor) -> Iterator[None]:
        """Pack the linears for one forward (and its backward, which needs no index)."""
        flat = attention_mask.reshape(-1)
        real = int(flat.count_nonzero())
        if not self.linears or real > (1.0 - MIN_PADDING) * flat.numel():
            yield
            return
        self.keep, self.rows = flat.nonzero().squeeze(1), flat.numel()
        try:
            yield
        finally:
            self.keep, self.rows = None, 0
