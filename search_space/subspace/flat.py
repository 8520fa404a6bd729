"""A DET's solution as one vector theta: its trainable tensors flattened in a fixed order.

The layout records every tensor's name and exact shape, so a vector maps back to the
same tensors (`unflatten`), and the size of theta is known before any training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FlatEntry:
    """One tensor of theta: its parameter name, shape and place in the vector."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class FlatLayout:
    """The order and shapes of theta's tensors; ``size`` is |theta| exactly."""

    entries: tuple[FlatEntry, ...]

    @classmethod
    def of(cls, named: Iterable[tuple[str, torch.Tensor]]) -> FlatLayout:
        """Layout of ``named`` tensors in the given order (e.g. a module's trainable ones)."""
        entries, offset = [], 0
        for name, tensor in named:
            entries.append(FlatEntry(name, tuple(tensor.shape), offset))
            offset += tensor.numel()
        return cls(tuple(entries))

    @classmethod
    def trainable(cls, module: nn.Module) -> FlatLayout:
        """Layout of ``module``'s parameters that require grad, in module order."""
        return cls.of((n, p) for n, p in module.named_parameters() if p.requires_grad)

    @property
    def size(self) -> int:
        return sum(e.numel for e in self.entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """theta: the tensors concatenated in layout order (differentiable)."""
        missing = [e.name for e in self.entries if e.name not in tensors]
        if missing:
            raise KeyError(f"tensors missing from theta: {missing[:5]}")
        wrong = [e.name for e in self.entries if tuple(tensors[e.name].shape) != e.shape]
        if wrong:
            raise ValueError(f"tensor {wrong[0]} has a shape other than the layout's")
        return torch.cat([tensors[e.name].reshape(-1) for e in self.entries])

    def flatten_module(self, module: nn.Module) -> torch.Tensor:
        """theta of ``module``'s current parameters (detached copy)."""
        params = dict(module.named_parameters())
        return self.flatten({e.name: params[e.name].detach() for e in self.entries}).clone()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """name -> tensor views into ``theta`` (gradients flow back to theta)."""
        if theta.dim() != 1 or theta.numel() != self.size:
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}; the layout needs ({self.size},)"
            )
        return {e.name: theta[e.offset : e.offset + e.numel].view(e.shape) for e in self.entries}

    @torch.no_grad()
    def load_into(self, module: nn.Module, theta: torch.Tensor) -> None:
        """Copy ``theta`` into ``module``'s parameters (for evaluation with plain forwards)."""
        params = dict(module.named_parameters())
        for name, value in self.unflatten(theta.detach()).items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))

    def to_json(self) -> list[dict[str, object]]:
        return [{"name": e.name, "shape": list(e.shape), "offset": e.offset} for e in self.entries]
