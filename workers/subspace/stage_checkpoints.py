"""Finished stages kept on disk, so a retried or resumed experiment starts where it stopped.

A Ray retry (lost worker) or a `--resume` reruns an experiment with the same config and
``output_dir``; stage 0 (each DET) and stage 1 are the expensive parts and are saved as
they finish under ``<output_dir>/checkpoints`` (safetensors + JSON, written atomically).
A checkpoint is used only when its fingerprint (the whole config but ``output_dir``, and
the DET) matches; every stage seeds itself, so a resumed experiment gives the same
result as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from workers.subspace.context import SubspaceContext
from workers.subspace.det_model import DetModel
from workers.subspace.stage0 import Stage0Outcome
from workers.subspace.stage1 import Stage1Outcome, make_codecs

FORMAT = "s3delta.subspace.checkpoint/1"


def fingerprint(ctx: SubspaceContext, stage: str) -> str:
    """What a checkpoint must have been made with to be reused."""
    config = {k: v for k, v in ctx.cfg.model_dump().items() if k != "output_dir"}
    text = json.dumps({"format": FORMAT, "stage": stage, "config": config}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _folder(ctx: SubspaceContext) -> Path | None:
    return Path(ctx.cfg.output_dir) / "checkpoints" if ctx.cfg.output_dir else None


def _save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: t.detach().cpu().clone().contiguous() for k, t in tensors.items()}, str(tmp))
    meta_tmp = path.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(meta))
    os.replace(tmp, path)  # tensors first: the JSON is the "finished" mark
    os.replace(meta_tmp, path.with_suffix(".json"))


def _load(path: Path, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The checkpoint at ``path`` if it is whole and was made with ``key``; else None."""
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(path))
    except (OSError, ValueError, SafetensorError):
        return None  # torn or tampered: the stage runs again
    if meta.get("fingerprint") != key:
        return None
    return tensors, meta


def stage0_with_checkpoint(
    ctx: SubspaceContext, det: DetModel, train: Callable[[], Stage0Outcome]
) -> Stage0Outcome:
    """DET ``det``'s stage-0 outcome: from its checkpoint, or trained then saved."""
    folder = _folder(ctx)
    if folder is None:
        return train()
    path = folder / f"stage0-{det.name}.safetensors"
    key = fingerprint(ctx, f"stage0/{det.name}")
    found = _load(path, key)
    if found is not None:
        tensors, meta = found
        theta = tensors["theta"]
        if theta.numel() == det.layout.size:
            det.load(theta.to(det.theta0.device))
            return Stage0Outcome(
                theta=det.theta(),
                dev_score=meta["dev_score"],
                test_score=meta["test_score"],
                test_metrics=meta["test_metrics"],
                best_step=meta["best_step"],
            )
    outcome = train()
    meta = {
        "fingerprint": key,
        "dev_score": outcome.dev_score,
        "test_score": outcome.test_score,
        "test_metrics": outcome.test_metrics,
        "best_step": outcome.best_step,
    }
    _save(path, {"theta": outcome.theta}, meta)
    return outcome


def stage1_with_checkpoint(
    ctx: SubspaceContext,
    dets: list[DetModel],
    thetas: list[torch.Tensor],
    train: Callable[[], Stage1Outcome],
) -> Stage1Outcome:
    """The encoders, decoders and P_k: from the checkpoint, or trained then saved."""
    folder = _folder(ctx)
    if folder is None:
        return train()
    path = folder / "stage1.safetensors"
    key = fingerprint(ctx, "stage1")
    found = _load(path, key)
    if found is not None:
        tensors, meta = found
        codecs = make_codecs(ctx, dets, [t.to(ctx.device) for t in thetas])
        try:
            for i, codec in enumerate(codecs):
                state = {
                    k[len(f"{i}.") :]: t.to(ctx.device)
                    for k, t in tensors.items()
                    if k.startswith(f"{i}.")
                }
                codec.load_state_dict(state)
                codec.requires_grad_(False)
            points = tensors["points"].to(ctx.device)
            return Stage1Outcome(codecs, points, meta["history"], meta["recon_errors"])
        except (RuntimeError, KeyError):
            pass  # a checkpoint that does not fit: train again below
    outcome = train()
    tensors = {"points": outcome.points}
    for i, codec in enumerate(outcome.codecs):
        tensors.update({f"{i}.{k}": t for k, t in codec.state_dict().items()})
    meta = {
        "fingerprint": key,
        "history": outcome.history,
        "recon_errors": outcome.recon_errors,
    }
    _save(path, tensors, meta)
    return outcome
