"""Trained deltas back into a usable model, and exports (native or PEFT).

A ``delta.safetensors`` written by a trial carries its structure, the backbone hash,
the task, pooling and LoRA scale in its metadata, so it alone rebuilds the trained
model: the backbone is loaded by name, checked against the hash, and the deltas and
head are applied.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save_file

from search_space import apply_structure, load_backbone, read_delta
from search_space.backbone import is_seq2seq
from search_space.peft_export import PeftSupport, export_peft
from search_space.structure import Structure
from search_space.structure_check import check_structure
from search_space.weights import DeltaFileError, check_backbone, structure_of
from workers.data import get_task
from workers.task_model import TaskModel


def _checked_structure(path: str | Path, meta: dict[str, str]) -> Structure:
    structure = structure_of(meta, str(path))
    if structure is None:
        raise DeltaFileError(f"{path}: no structure in the metadata; it was not written by a trial")
    return structure


def load_trained(path: str | Path, model_name: str | None = None) -> TaskModel:
    """The backbone with the trained deltas and task head applied, in eval mode.

    The structure in the file is checked against the backbone (sizes recomputed,
    duplicates, budget) and every tensor's shape against the structure; a damaged or
    tampered file is a `DeltaFileError`/`StructureMismatchError` naming the file."""
    tensors, head, meta = read_delta(path)
    structure = _checked_structure(path, meta)
    backbone, tokenizer = load_backbone(model_name or structure.backbone)
    check_backbone(path, meta, backbone)
    spec = get_task(meta.get("task", "glue/sst2"))
    model = TaskModel(backbone, spec, is_seq2seq(backbone.config), meta.get("pooling", "mean"))
    check_structure(structure, backbone, str(path))
    try:
        deltas = apply_structure(backbone, structure, float(meta.get("lora_scale", "1.0")))
        deltas.load_named_tensors(tensors)
        model.attach_deltas(deltas)
        if model.head is not None and head:
            model.head.load_state_dict(head)
    except (RuntimeError, ValueError) as err:
        reason = " ".join(str(err).split())[:300]
        raise DeltaFileError(f"{path}: {reason}; give an undamaged delta file") from None
    model.tokenizer = tokenizer  # type: ignore[assignment]
    return model.eval()


def export_trained(
    path: str | Path,
    out_dir: str | Path,
    fmt: Literal["peft", "native"] = "peft",
    partial: bool = False,
) -> PeftSupport | None:
    """Write ``out_dir``: native = structure.json + delta.safetensors; peft = a PEFT adapter
    (``PeftModel.from_pretrained`` loads it) + head.safetensors + the structure."""
    out = Path(out_dir)
    if fmt not in ("peft", "native"):
        raise ValueError(f"unknown export format {fmt!r}: use 'peft' or 'native'")
    tensors, head, meta = read_delta(path)
    structure = _checked_structure(path, meta)
    backbone, _ = load_backbone(structure.backbone)
    check_backbone(path, meta, backbone)
    check_structure(structure, backbone, str(path))
    # checked like a load: a tampered file is refused, never copied or converted
    _load_checked_tensors(path, backbone, structure, tensors, meta)
    if fmt == "native":
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / "delta.safetensors")
        structure.save(out / "structure.json")
        return None
    out.mkdir(parents=True, exist_ok=True)
    support = export_peft(
        structure, tensors, backbone, out, float(meta.get("lora_scale", "1.0")), partial
    )
    if head:
        save_file(
            {k: v.contiguous() for k, v in head.items()},
            str(out / "head.safetensors"),
            metadata={"task": meta.get("task", ""), "pooling": meta.get("pooling", "mean")},
        )
    (out / "s3delta_task.json").write_text(
        json.dumps({"task": meta.get("task"), "pooling": meta.get("pooling")})
    )
    return support


def _load_checked_tensors(
    path: str | Path,
    backbone: torch.nn.Module,
    structure: Structure,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, str],
) -> None:
    """Every tensor present with the shape the structure needs (on a throwaway copy)."""
    import copy

    probe = copy.deepcopy(backbone)
    try:
        deltas = apply_structure(probe, structure, float(meta.get("lora_scale", "1.0")))
        deltas.load_named_tensors(tensors)
    except (RuntimeError, ValueError) as err:
        reason = " ".join(str(err).split())[:300]
        raise DeltaFileError(f"{path}: {reason}; give an undamaged delta file") from None
