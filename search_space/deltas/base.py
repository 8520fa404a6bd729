"""What every delta module shares: how it hooks onto a frozen backbone module, and its gate.

A delta never replaces or edits the backbone: it is attached with a forward hook
that adds ``z * delta(input, output)`` to the module's output. ``z`` is the gate value
of the delta's candidate, read from a shared `GateSlot` (1 when no gate is set, which
is how an applied structure runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


class GateSlot:
    """Holds the current gate vector z (or None for un-gated use) shared by many deltas."""

    def __init__(self) -> None:
        self.z: torch.Tensor | None = None

    def value(self, index: int) -> torch.Tensor | float:
        return 1.0 if self.z is None else self.z[index]


@dataclass(frozen=True)
class Site:
    """A place in the backbone a delta can attach to: a Linear, a norm, or a whole block."""

    path: str  # full module path, e.g. "encoder.layer.3.attention.self.query"
    site_type: str  # "linear" | "norm" | "block"
    role: str  # q k v o ffn_in ffn_out attn_norm cross_norm ffn_norm emb_norm final_norm attn_block ffn_block
    layer: int  # block index, -1 for embedding/final norms
    stack: str  # "encoder" | "decoder"
    in_features: int
    out_features: int
    norm_kind: str = ""  # "layernorm" | "rmsnorm" for norms


class Delta(nn.Module):
    """Base class: subclasses implement `delta(inputs, output)` returning what is added."""

    kind: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.gate_slot: GateSlot | None = None
        self.gate_index: int = -1
        self._handle: RemovableHandle | None = None

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        """What to add to ``out``, already scaled by ``gate`` at its cheapest point (a
        rank-r activation or a bias vector rather than the full hidden tensor)."""
        raise NotImplementedError

    def attach(self, module: nn.Module, slot: GateSlot | None = None, index: int = -1) -> None:
        """Hook onto ``module``; the backbone's own parameters are left untouched."""
        self.gate_slot, self.gate_index = slot, index
        self._handle = module.register_forward_hook(self._hook)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        x = inputs[0] if inputs else hidden
        gate = 1.0 if self.gate_slot is None else self.gate_slot.value(self.gate_index)
        new = hidden + self.delta(x, hidden, gate)
        if isinstance(output, tuple):
            return (new, *output[1:])
        return new
