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
from dataclasses import dataclass, field
from pathlib import Path

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
    if support.unsupported and not partial:
        lines = "; ".join(f"{n}: {r}" for n, r in support.unsupported.items())
        raise PeftExportError(
            f"PEFT cannot express {len(support.unsupported)} entries of this structure ({lines}); "
            "export with --format native (format='native') for the exact model, or with "
            "--partial (partial=True) to export the rest, list these and measure the change"
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
    for path in sorted(set(linear_biases) - set(ranks)):  # bias only: a rank-1 LoRA with zero A and B
        ranks[path], alphas[path] = 1, 1.0
    if not ranks:
        raise PeftExportError(
            "this structure has no LoRA or Linear BitFit entries; PEFT's LoRA format needs at "
            "least one (export with format='native')"
        )
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


def _name_backbone(config_path: Path, name: str) -> None:
    """``base_model_name_or_path`` = the name the backbone was loaded by (not a local path)."""
    data = json.loads(config_path.read_text())
    if data.get("base_model_name_or_path") != name:
        data["base_model_name_or_path"] = name
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True))
