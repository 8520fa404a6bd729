"""Prefix-tuning (Li & Liang 2021) on a BERT self-attention: n learnable key/value vectors
put in front of every row's own keys and values, the attention mask widened to match.

Why it lives here and not in transformers: BERT in transformers 5 only reads
``past_key_values`` as a decoder's generation cache (``Cache.update``), and
``BertModel`` builds its attention mask for the input length alone, so a prefix cannot
be passed in from outside cleanly. The delta therefore sits on an attention block
(site role ``attn_block``) and hooks a forward *pre*-hook onto its ``self`` attention
module: it hands that module a one-call object with ``update(key, value, layer)`` that
prepends the prefix, and widens ``attention_mask`` by n columns (a bool mask gets True,
an additive float mask gets 0). The backbone's weights and code are untouched.

A gate z (supernet use) adds log z to the prefix's attention logits: z = 0 switches the
prefix off exactly, z = 1 leaves it whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from search_space.deltas.base import Delta, GateSlot, Site
from search_space.deltas.registry import BuildContext, DeltaKind, KindOptions


@dataclass(frozen=True)
class PrefixOptions(KindOptions):
    """The prefix length n in tokens (key and value vectors each)."""

    tokens: int = 1


class _PrefixKV:
    """Stands in for a cache for one call: returns the prefix followed by the row's own keys."""

    def __init__(self, key: torch.Tensor, value: torch.Tensor) -> None:
        self.key, self.value = key, value

    def update(
        self, key: torch.Tensor, value: torch.Tensor, layer_idx: Any = None, *args: Any, **kw: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.cat([self.key.to(key.dtype), key], dim=2),
            torch.cat([self.value.to(value.dtype), value], dim=2),
        )


class PrefixDelta(Delta):
    """``tokens`` key and value vectors of width ``hidden`` for one self-attention."""

    kind = "prefix"

    def __init__(self, hidden: int, tokens: int, init_std: float = 0.02) -> None:
        super().__init__()
        if tokens < 1:
            raise ValueError(f"prefix tokens={tokens} must be at least 1")
        self.tokens = tokens
        self.prefix_key = nn.Parameter(torch.randn(tokens, hidden) * init_std)
        self.prefix_value = nn.Parameter(torch.randn(tokens, hidden) * init_std)
        self._pre_handle: RemovableHandle | None = None

    def attach(self, module: nn.Module, slot: GateSlot | None = None, index: int = -1) -> None:
        """Hook the ``self`` attention inside the attention block ``module`` (BERT family)."""
        attention = getattr(module, "self", None)
        heads = getattr(attention, "num_attention_heads", None)
        if attention is None or heads is None:
            raise ValueError(
                f"prefix deltas need a BERT-family attention block with a `self` attention "
                f"module; {type(module).__name__} has none"
            )
        self.gate_slot, self.gate_index = slot, index
        self._heads = int(heads)
        self._pre_handle = attention.register_forward_pre_hook(self._pre_hook, with_kwargs=True)

    def detach(self) -> None:
        if self._pre_handle is not None:
            self._pre_handle.remove()
            self._pre_handle = None

    def _split(self, tensor: torch.Tensor, rows: int) -> torch.Tensor:
        """[n, hidden] -> [rows, heads, n, head_dim], the layout of BERT's keys and values."""
        n, hidden = tensor.shape
        heads = self._heads
        return tensor.view(n, heads, hidden // heads).transpose(0, 1).expand(rows, -1, -1, -1)

    def _pre_hook(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if kwargs.get("past_key_values") is not None:
            raise ValueError("prefix deltas cannot be combined with a generation cache")
        hidden = args[0] if args else kwargs["hidden_states"]
        rows = hidden.shape[0]
        gate = 1.0 if self.gate_slot is None else self.gate_slot.value(self.gate_index)
        kwargs["past_key_values"] = _PrefixKV(
            self._split(self.prefix_key, rows), self._split(self.prefix_value, rows)
        )
        kwargs["attention_mask"] = self._widen(kwargs.get("attention_mask"), hidden, gate)
        return args, kwargs

    def _widen(
        self, mask: torch.Tensor | None, hidden: torch.Tensor, gate: torch.Tensor | float
    ) -> torch.Tensor | None:
        """The mask with n leading prefix columns every query may attend to."""
        ungated = not isinstance(gate, torch.Tensor) and gate == 1.0
        if mask is None and ungated:
            return None
        rows, length = hidden.shape[0], hidden.shape[1]
        if mask is None:
            mask = torch.zeros(rows, 1, length, length, dtype=hidden.dtype, device=hidden.device)
        if mask.dtype == torch.bool and ungated:
            ones = mask.new_ones(*mask.shape[:-1], self.tokens)
            return torch.cat([ones, mask], dim=-1)
        if mask.dtype == torch.bool:
            floor = torch.finfo(hidden.dtype).min
            mask = torch.zeros(mask.shape, dtype=hidden.dtype, device=mask.device).masked_fill(
                ~mask, floor
            )
        if ungated:
            prefix = mask.new_zeros(*mask.shape[:-1], self.tokens)
        else:
            g = torch.as_tensor(gate, dtype=mask.dtype, device=mask.device)
            log_gate = torch.log(g.clamp_min(1e-30)) if float(g) > 0 else g.new_tensor(-math.inf)
            floor = torch.finfo(mask.dtype).min
            prefix = log_gate.clamp_min(floor).expand(*mask.shape[:-1], self.tokens)
        return torch.cat([prefix, mask], dim=-1)

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        raise NotImplementedError("a prefix acts inside attention, through its pre-hook")


def _size(site: Site, options: PrefixOptions) -> int:
    return 2 * options.tokens * site.out_features


def _build(site: Site, options: PrefixOptions, ctx: BuildContext) -> PrefixDelta:
    if site.role != "attn_block":
        raise ValueError(f"a prefix sits on an attention block, not on a {site.role} ({site.path})")
    return PrefixDelta(site.out_features, options.tokens)


# in no search space: the subspace experiment's third DET (search_space/subspace/dets.py)
PREFIX = DeltaKind(
    name="prefix",
    sites=("block",),
    options=PrefixOptions,
    size=_size,
    build=_build,
    spaces=(),
    peft=None,
    label="prefix",
    color="#8c564b",
)
