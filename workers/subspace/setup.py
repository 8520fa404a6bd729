"""Checking a subspace config before any weights or data are loaded.

Every problem is one line ``<field>: what is wrong; fix: what to write``. Matching the
DET sizes needs the backbone's shapes only: it runs on a weightless copy of the model
built from its config on the meta device.
"""

from __future__ import annotations

import torch
from torch import nn

from search_space.backbone import is_seq2seq, resolve_model_path
from search_space.subspace import DetChoice, SizeMatchError, match_sizes
from workers.data import TaskSpec, get_task
from workers.subspace.checks import SubspaceSetupError, check_dets, check_numbers
from workers.subspace.types import SubspaceConfig

__all__ = ["SubspaceSetupError", "check_config", "check_dets", "check_numbers", "model_skeleton"]


def model_skeleton(name: str) -> nn.Module:
    """The backbone's module tree with no weights (meta device): shapes only, instant."""
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

    try:
        config = AutoConfig.from_pretrained(resolve_model_path(name))
    except OSError as exc:
        raise SubspaceSetupError(
            f"model: {name!r} could not be found ({' '.join(str(exc).split())[:200]}); fix: a "
            "local model directory or a hub name available offline"
        ) from None
    loader = AutoModelForSeq2SeqLM if is_seq2seq(config) else AutoModel
    with torch.device("meta"):
        return loader.from_config(config)  # type: ignore[no-any-return]


def check_config(
    cfg: SubspaceConfig, skeleton: nn.Module | None = None
) -> tuple[TaskSpec, list[DetChoice]]:
    """The task and each DET's matched size, or `SubspaceSetupError` naming field and fix."""
    check_dets(cfg.dets)
    check_numbers(cfg)
    try:
        spec = get_task(cfg.task)
    except ValueError as exc:
        raise SubspaceSetupError(f"task: {exc}") from None
    model = skeleton if skeleton is not None else model_skeleton(cfg.model)
    try:
        choices = match_sizes(model, cfg.dets, cfg.target_size, cfg.size_tolerance)
    except SizeMatchError as exc:
        raise SubspaceSetupError(str(exc)) from None
    except ValueError as exc:  # a DET with no site in this model
        raise SubspaceSetupError(
            f"dets: {exc}; fix: choose DETs this model has sites for"
        ) from None
    return spec, choices
