"""Export to Hugging Face PEFT, where PEFT can express the structure exactly.

Expressible:
- LoRA with per-module ranks (``rank_pattern``/``alpha_pattern``);
- BitFit on a Linear, as the bias of a LoRA B matrix (PEFT's ``lora_bias=True``: the layer
  adds ``B(A x) * scaling + b_B * scaling``); a Linear with BitFit and no LoRA gets a rank-1
  LoRA whose A and B weights are zero, so only the bias acts. With ``lora_bias`` on, every
  LoRA module has a bias; ours are zero where the structure has no BitFit;
- LNFit or BitFit on a LayerNorm that has a bias, merged into that LayerNorm and saved
  through ``modules_to_save`` (LN(x) + w norm(x) + b is a LayerNorm with weight gamma + w
  and bias beta + b).
Not expressible: ``lra`` (a rank-1 factorised bottleneck with a GELU after a whole block)
and ``adapter`` (PEFT has no sequential bottleneck adapter after a block), and BitFit/LNFit
on a bias-free RMSNorm (T5). Each kind says where its entries go (`DeltaKind.peft`, a
`PeftPlacement` or the reason it has none) in its own file under search_space/deltas/. Those are reported by `peft_support` and make `export_peft`
fail unless ``partial=True``, in which case they are listed in ``s3delta_unsupported.json``
next to the adapter: never silently dropped (the caller also measures the change in output).

``adapter_config.json`` names the backbone by the name it was loaded by (the structure's
``backbone``, e.g. a hub id), not the local folder it resolved to.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_space.deltas import PeftPlacement, find_kind
from search_space.structure import Structure, StructureEntry


class PeftExportError(ValueError):
    """A structure with entries PEFT cannot express."""


@dataclass
class PeftSupport:
    """Which entries PEFT can express, and why the others cannot be."""

    supported: list[StructureEntry] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # entry name -> reason
    placements: dict[str, PeftPlacement] = field(default_factory=dict)  # entry name -> where
    # parameters the adapter file holds beyond the trained ones, by why (see _stored_extra)
    stored_extra: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unsupported


def peft_support(structure: Structure, model: nn.Module) -> PeftSupport:
    modules = dict(model.named_modules())
    support = PeftSupport()
    for e in structure.entries:
        kind = find_kind(e.kind)
        placed = (
            f"PEFT has no {e.kind!r} module"
            if kind is None or kind.peft is None
            else kind.peft(modules.get(e.path), kind.load_options(e.options))
        )
        if isinstance(placed, str):
            support.unsupported[e.name] = placed
        else:
            support.supported.append(e)
            support.placements[e.name] = placed
    return support


def _tensor(tensors: dict[str, torch.Tensor], entry: StructureEntry, name: str) -> torch.Tensor:
    return tensors[f"{entry.name}.{name}"]


def export_peft(
    structure: Structure,
    tensors: dict[str, torch.Tensor],
    base_model: nn.Module,
    out_dir: str | Path,
    lora_scale: float = 1.0,
    partial: bool = False,
) -> PeftSupport:
    """Write a PEFT adapter for ``structure`` with weights ``tensors`` (names as `DeltaSet`).

    ``base_model`` must be a clean (un-hooked) copy of the backbone; PEFT modifies it.
    """
    from peft import LoraConfig, get_peft_model

    support = peft_support(structure, base_model)
    if support.unsupported and not support.supported:
        raise PeftExportError(
            f"PEFT can express none of the {len(support.unsupported)} entries of this structure "
            f"({_kinds(structure.entries)}: {_first_reason(support)}); export with --format "
            "native (format='native'), which holds every structure exactly"
        )
    if support.unsupported and not partial:
        lines = "; ".join(f"{n}: {r}" for n, r in support.unsupported.items())
        raise PeftExportError(
            f"PEFT cannot express {len(support.unsupported)} entries of this structure ({lines}); "
            "export with --format native (format='native') for the exact model, or with "
            f"--partial (partial=True), which {partial_summary(structure, support)}"
        )
    by_slot: dict[str, list[tuple[StructureEntry, PeftPlacement]]] = {}
    for e in support.supported:
        placed = support.placements[e.name]
        by_slot.setdefault(placed.slot, []).append((e, placed))
    loras = {e.path: (e, p) for e, p in by_slot.get("lora", [])}
    linear_biases = {e.path: (e, p) for e, p in by_slot.get("lora_bias", [])}
    norm_parts = by_slot.get("norm_weight", []) + by_slot.get("norm_bias", [])
    norms = sorted({e.path for e, _ in norm_parts})
    ranks = {path: p.rank for path, (_, p) in loras.items()}
    alphas = {path: lora_scale * p.rank for path, (_, p) in loras.items()}
    for path in sorted(
        set(linear_biases) - set(ranks)
    ):  # bias only: a rank-1 LoRA with zero A and B
        ranks[path], alphas[path] = 1, 1.0
    if not ranks:  # only LayerNorm entries: PEFT's LoRA format needs one LoRA module,
        # so a rank-1 LoRA with zero A and B (it changes nothing) carries the saved norms
        noop = _noop_target(base_model, norms)
        ranks[noop], alphas[noop] = 1, 1.0
    first = sorted(ranks)[0]
    config = LoraConfig(
        r=ranks[first],
        lora_alpha=alphas[first],  # type: ignore[arg-type]
        target_modules=sorted(ranks),
        rank_pattern={re.escape(p): r for p, r in ranks.items()},
        alpha_pattern={re.escape(p): a for p, a in alphas.items()},
        modules_to_save=norms or None,
        lora_dropout=0.0,
        bias="none",
        lora_bias=bool(linear_biases),
    )
    peft_model = get_peft_model(base_model, config)
    modules = dict(peft_model.base_model.model.named_modules())  # type: ignore[union-attr]
    with torch.no_grad():
        for path in ranks:
            layer = modules[path]
            a = layer.lora_A["default"]  # type: ignore[index]
            b = layer.lora_B["default"]  # type: ignore[index]
            if path in loras:
                entry, placed = loras[path]
                a.weight.copy_(_tensor(tensors, entry, placed.tensors[0]))
                b.weight.copy_(_tensor(tensors, entry, placed.tensors[1]))
            else:
                a.weight.zero_()
                b.weight.zero_()
            if b.bias is not None:  # lora_bias: the bias delta over this Linear, or zero
                scaling = alphas[path] / ranks[path]
                if path in linear_biases:
                    entry, placed = linear_biases[path]
                    b.bias.copy_(_tensor(tensors, entry, placed.tensors[0]) / scaling)
                else:
                    b.bias.copy_(torch.zeros_like(b.bias))
        for entry, placed in norm_parts:
            ln = modules[entry.path].modules_to_save["default"]  # type: ignore[index]
            target = ln.weight if placed.slot == "norm_weight" else ln.bias
            target.add_(_tensor(tensors, entry, placed.tensors[0]))
    support.stored_extra = _stored_extra(modules, ranks, loras, linear_biases, norm_parts)
    out = Path(out_dir)
    peft_model.peft_config["default"].base_model_name_or_path = structure.backbone
    with warnings.catch_warnings():
        # PEFT 0.21 takes lora_bias's 1-D lora_B.bias for an unsharded ZeRO-3 tensor, and
        # looks the hub name up for a vocabulary check it cannot do offline: both harmless
        warnings.filterwarnings("ignore", message=".*LoRA tensor\\(s\\) have invalid shape")
        warnings.filterwarnings("ignore", message="Could not find a config file in")
        peft_model.save_pretrained(str(out))
    _name_backbone(out / "adapter_config.json", structure.backbone)
    (out / "s3delta_structure.json").write_text(json.dumps(structure.to_dict(), indent=2))
    if support.unsupported:
        (out / "s3delta_unsupported.json").write_text(json.dumps(support.unsupported, indent=2))
    return support


def _kinds(entries: Sequence[StructureEntry]) -> str:
    """'lra x2 (1,538), bitfit x1 (384)': entries and parameters per kind."""
    counts: dict[str, list[int]] = {}
    for e in entries:
        counts.setdefault(e.kind, []).append(e.size)
    return ", ".join(f"{k} x{len(v)} ({sum(v):,})" for k, v in counts.items())


def _first_reason(support: PeftSupport) -> str:
    reasons = list(dict.fromkeys(support.unsupported.values()))
    return "; ".join(reasons[:2]) + ("; ..." if len(reasons) > 2 else "")


def kept_and_dropped(structure: Structure, support: PeftSupport) -> str:
    """What a partial export keeps and drops, in entries and parameters per kind."""
    dropped = [e for e in structure.entries if e.name in support.unsupported]
    kept_size = sum(e.size for e in support.supported)
    dropped_size = sum(e.size for e in dropped)
    return (
        f"keeps {len(support.supported)} of {len(structure.entries)} entries ({kept_size:,} of "
        f"{kept_size + dropped_size:,} trained parameters: {_kinds(support.supported)}) and "
        f"drops {len(dropped)} ({dropped_size:,}: {_kinds(dropped)})"
    )


def partial_summary(structure: Structure, support: PeftSupport) -> str:
    """`kept_and_dropped`, and that the change in outputs is measured."""
    return kept_and_dropped(structure, support) + ", then measures how much the outputs change"


def _noop_target(model: nn.Module, norms: Sequence[str]) -> str:
    """A Linear for a zero LoRA: the first one beside the first saved norm, else any."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise PeftExportError("this backbone has no Linear layer for PEFT's LoRA format")
    parent = norms[0].rsplit(".", 1)[0] + "." if norms else ""
    return next((n for n in linears if n.startswith(parent)), linears[0])


def _stored_extra(
    modules: dict[str, nn.Module],
    ranks: dict[str, int],
    loras: Collection[str],
    linear_biases: Collection[str],
    norm_parts: Sequence[tuple[StructureEntry, PeftPlacement]],
) -> dict[str, int]:
    """Parameters PEFT's format stores beyond the trained ones, by reason (all exact: the
    zeros are zeros and the saved norms hold the trained deltas merged in)."""
    extra: dict[str, int] = {}

    def add(why: str, n: int) -> None:
        if n:
            extra[why] = extra.get(why, 0) + n

    for path in ranks:
        layer: Any = modules[path]
        a, b = layer.lora_A["default"], layer.lora_B["default"]
        if path not in loras:
            why = (
                "zero LoRA A and B matrices of the rank-1 LoRA that carries BitFit on a Linear"
                if path in linear_biases
                else "zero LoRA A and B matrices of the rank-1 LoRA that PEFT needs to save "
                "LayerNorms"
            )
            add(why, a.weight.numel() + b.weight.numel())
        if b.bias is not None and path not in linear_biases:
            add("zero LoRA biases (PEFT's lora_bias gives every LoRA module one)", b.bias.numel())
    trained_on: dict[str, int] = {}
    for entry, _ in norm_parts:
        trained_on[entry.path] = trained_on.get(entry.path, 0) + entry.size
    for path, trained in trained_on.items():
        saved: Any = modules[path]
        whole = sum(p.numel() for p in saved.modules_to_save["default"].parameters())
        add(
            "LayerNorms saved whole (weight and bias, the trained LNFit/BitFit merged in) "
            "beyond their trained deltas",
            whole - trained,
        )
    return extra


def _name_backbone(config_path: Path, name: str) -> None:
    """``base_model_name_or_path`` = the name the backbone was loaded by (not a local path)."""
    data = json.loads(config_path.read_text())
    if data.get("base_model_name_or_path") != name:
        data["base_model_name_or_path"] = name
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True))
