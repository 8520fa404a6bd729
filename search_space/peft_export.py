"""Export to Hugging Face PEFT, where PEFT can express the structure.

Expressible: LoRA with per-module ranks (``rank_pattern``/``alpha_pattern``), and LNFit or
BitFit on a LayerNorm that has a bias, merged into that LayerNorm and saved through
``modules_to_save`` (LN(x) + w norm(x) + b is a LayerNorm with weight gamma + w and bias
beta + b). Not expressible: BitFit on a single Linear, ``lra``, ``adapter``, and BitFit on
a bias-free RMSNorm. Those are reported by `peft_support` and make `export_peft` fail
unless ``partial=True``, in which case they are listed in ``s3delta_unsupported.json``
next to the adapter: never silently dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from search_space.structure import Structure, StructureEntry


class PeftExportError(ValueError):
    """A structure with entries PEFT cannot express."""


@dataclass
class PeftSupport:
    """Which entries PEFT can express, and why the others cannot be."""

    supported: list[StructureEntry] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # entry name -> reason

    @property
    def complete(self) -> bool:
        return not self.unsupported


def peft_support(structure: Structure, model: nn.Module) -> PeftSupport:
    modules = dict(model.named_modules())
    support = PeftSupport()
    for e in structure.entries:
        target = modules.get(e.path)
        if e.kind == "lora" or (
            e.kind in ("lnfit", "bitfit")
            and isinstance(target, nn.LayerNorm)
            and (e.kind == "lnfit" or target.bias is not None)
        ):
            support.supported.append(e)
        elif e.kind == "bitfit" and isinstance(target, nn.Linear):
            support.unsupported[e.name] = "PEFT has no bias-only tuning of a single Linear"
        elif e.kind == "bitfit":
            support.unsupported[e.name] = "the norm has no bias to merge a BitFit delta into"
        elif e.kind in ("lnfit",):
            support.unsupported[e.name] = (
                "only torch LayerNorm gains export through modules_to_save"
            )
        else:
            support.unsupported[e.name] = f"PEFT has no {e.kind!r} module"
    return support


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
            "export with format='native', or pass partial=True to export the rest and list these"
        )
    loras = [e for e in support.supported if e.kind == "lora"]
    norms = sorted({e.path for e in support.supported if e.kind != "lora"})
    if not loras:
        raise PeftExportError(
            "this structure has no LoRA entries; PEFT's LoRA format needs at least one "
            "(export with format='native')"
        )
    config = LoraConfig(
        r=loras[0].rank,
        lora_alpha=lora_scale * loras[0].rank,  # type: ignore[arg-type]
        target_modules=[e.path for e in loras],
        rank_pattern={re.escape(e.path): e.rank for e in loras},
        alpha_pattern={re.escape(e.path): lora_scale * e.rank for e in loras},
        modules_to_save=norms or None,
        lora_dropout=0.0,
        bias="none",
    )
    peft_model = get_peft_model(base_model, config)
    modules = dict(peft_model.base_model.model.named_modules())  # type: ignore[union-attr]
    with torch.no_grad():
        for e in loras:
            layer = modules[e.path]
            layer.lora_A["default"].weight.copy_(tensors[f"{e.name}.lora_A"])  # type: ignore[index]
            layer.lora_B["default"].weight.copy_(tensors[f"{e.name}.lora_B"])  # type: ignore[index]
        for path in norms:
            ln = modules[path].modules_to_save["default"]  # type: ignore[index]
            gain = tensors.get(f"{path}:lnfit.weight")
            bias = tensors.get(f"{path}:bitfit.bias")
            if gain is not None:
                ln.weight.add_(gain)
            if bias is not None:
                ln.bias.add_(bias)
    out = Path(out_dir)
    peft_model.save_pretrained(str(out))
    (out / "s3delta_structure.json").write_text(json.dumps(structure.to_dict(), indent=2))
    if support.unsupported:
        (out / "s3delta_unsupported.json").write_text(json.dumps(support.unsupported, indent=2))
    return support
