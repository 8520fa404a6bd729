"""Delta weights on disk: safetensors (never pickle) plus the structure and a backbone hash.

The hash covers the backbone's config and every weight, so loading deltas onto a
different backbone (or a differently fine-tuned copy) is a clear error, not silent garbage.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from search_space.structure import Structure

FORMAT = "s3delta.delta"
HEAD_PREFIX = "head."


class DeltaFileError(ValueError):
    """A delta file that is damaged or not one of ours; the message names the file."""


class BackboneMismatchError(ValueError):
    """Delta weights loaded onto a backbone other than the one they were trained on."""


def backbone_fingerprint(model: nn.Module) -> str:
    """sha256 over the config (minus local paths) and all parameters and buffers in name order."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        cfg = config.to_dict()
        for volatile in ("_name_or_path", "transformers_version", "_attn_implementation_autoset"):
            cfg.pop(volatile, None)
        digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_delta(
    path: str | Path,
    tensors: dict[str, torch.Tensor],
    structure: Structure | None,
    fingerprint: str,
    head: dict[str, torch.Tensor] | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write delta tensors (and optionally a task head, prefixed ``head.``) to safetensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    for k, v in (head or {}).items():
        payload[HEAD_PREFIX + k] = v.detach().contiguous().cpu()
    metadata = {"format": FORMAT, "backbone_hash": fingerprint}
    if structure is not None:
        metadata["structure"] = json.dumps(structure.to_dict())
    metadata.update(extra or {})
    save_file(payload, str(path), metadata=metadata)
    return path


def read_delta(
    path: str | Path,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """(delta tensors, head tensors, metadata) from a file written by `save_delta`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: delta weights file does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            if metadata.get("format") != FORMAT:
                raise DeltaFileError(
                    f"{path}: not an s3delta delta file (metadata format "
                    f"{metadata.get('format')!r:.60}); give a delta.safetensors written by a trial"
                )
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - no iterator
    except DeltaFileError:
        raise
    except Exception as err:  # SafetensorError, RuntimeError, OSError on a damaged file
        reason = " ".join(str(err).split())[:200]
        raise DeltaFileError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {reason}); "
            "give an undamaged delta.safetensors written by a trial"
        ) from None
    deltas = {k: v for k, v in tensors.items() if not k.startswith(HEAD_PREFIX)}
    head = {k[len(HEAD_PREFIX) :]: v for k, v in tensors.items() if k.startswith(HEAD_PREFIX)}
    return deltas, head, metadata


def check_backbone(path: str | Path, metadata: dict[str, str], model: nn.Module) -> None:
    """Raise `BackboneMismatchError` unless ``model`` is the backbone the deltas were trained on."""
    expected = metadata.get("backbone_hash", "")
    actual = backbone_fingerprint(model)
    if expected != actual:
        name = ""
        structure = structure_of(metadata, str(path)) if "structure" in metadata else None
        if structure is not None:
            name = structure.backbone
        raise BackboneMismatchError(
            f"{path}: these delta weights were trained on backbone {name!r} "
            f"(hash {expected[:12]}), but the given backbone has hash {actual[:12]}; "
            "load the same pretrained model (same config and weights) before applying them"
        )


def structure_of(metadata: dict[str, str], source: str = "delta metadata") -> Structure | None:
    raw = metadata.get("structure")
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DeltaFileError(
            f"{source}: the structure in the metadata is not JSON ({err})"
        ) from None
    return Structure.from_dict(data, source=source)
