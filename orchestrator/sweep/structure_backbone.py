"""A `manual/<file>` structure checked against the sweep's backbone at validate time.

Sizes, duplicates, positions and the declared budget of a structure file are claims;
a trial would refuse a wrong one (`search_space.structure_check`), but only after Ray,
MLflow and the other trials had started. Here the same check runs on a weightless
copy of the backbone: its config is read and the model built on PyTorch's `meta`
device, so no weights are loaded and no memory is spent on them. A model whose config
cannot be read offline is not checked here (the model check reports bad names; the
trial still checks the structure).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4)
def backbone_skeleton(model: str) -> Any | None:
    """The backbone's modules without weights, or None when its config cannot be read."""
    try:
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

        from search_space.backbone import is_seq2seq, resolve_model_path

        config = AutoConfig.from_pretrained(resolve_model_path(model))
        loader = AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModel
        with torch.device("meta"):
            return loader.from_config(config)
    except Exception:  # unreadable or unreachable config, an unsupported architecture
        return None


def backbone_problems(structure: Any, model: str) -> list[str] | None:
    """Problems of `structure` on `model` (sizes recomputed, duplicates, positions,
    budget, backbone size), or None when the backbone cannot be built offline."""
    skeleton = backbone_skeleton(model)
    if skeleton is None:
        return None
    from search_space.positions import find_sites
    from search_space.structure_check import structure_problems

    try:
        find_sites(skeleton)
    except Exception:  # a family s3delta cannot place deltas in: the model check says so
        return None
    return structure_problems(structure, skeleton)
