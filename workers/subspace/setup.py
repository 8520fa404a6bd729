"""Checking a subspace config before any weights or data are loaded.

Every problem is one line ``<field>: what is wrong; fix: what to write``. Matching the
DET sizes needs the backbone's shapes only: it runs on a weightless copy of the model
built from its config on the meta device.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from search_space.backbone import is_seq2seq, resolve_model_path
from search_space.subspace import DETS, DetChoice, SizeMatchError, match_sizes
from workers.data import TaskSpec, get_task
from workers.subspace.types import SubspaceConfig

DET_NAMES = ", ".join(repr(d) for d in DETS)


class SubspaceSetupError(ValueError):
    """A subspace config that cannot run; raised before any model or data is loaded."""


def _positive(cfg: SubspaceConfig, names: tuple[str, ...], example: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and not (0 < value < math.inf):
            raise SubspaceSetupError(
                f"{name}: {value!r} must be positive; fix: e.g. {name}: {example}"
            )


def check_dets(dets: tuple[str, ...]) -> None:
    if len(dets) < 2:
        raise SubspaceSetupError(
            f"dets: {list(dets)} has {len(dets)} DET; a subspace shared by DETs needs at least "
            f"two; fix: list two or more of {DET_NAMES}"
        )
    unknown = [d for d in dets if d not in DETS]
    if unknown:
        raise SubspaceSetupError(f"dets: unknown DET {unknown[0]!r}; fix: use {DET_NAMES}")
    repeated = sorted({d for d in dets if dets.count(d) > 1})
    if repeated:
        raise SubspaceSetupError(f"dets: {repeated[0]!r} is listed twice; fix: list each DET once")


def check_numbers(cfg: SubspaceConfig) -> None:
    """Everything that can be checked without the model."""
    if cfg.d <= 0:
        raise SubspaceSetupError(
            f"d: {cfg.d} is not a dimension; fix: a whole number of at least 1, e.g. d: 4"
        )
    _positive(cfg, ("stage0_steps", "stage1_steps", "stage2_steps"), "200")
    _positive(cfg, ("eval_every", "stage2_eval_every"), "25")
    _positive(cfg, ("batch_size", "stage1_batch_size", "stage2_batch_size"), "8")
    _positive(cfg, ("eval_batch_size", "max_length", "target_size"), "64")
    _positive(cfg, ("stage0_lr", "head_lr", "stage1_lr", "stage2_lr"), "0.01")
    _positive(cfg, ("max_train_examples", "max_eval_examples", "grid_eval_examples"), "200")
    if not 0 <= cfg.recon_weight < math.inf:
        raise SubspaceSetupError(
            f"recon_weight: {cfg.recon_weight} must be >= 0; fix: e.g. recon_weight: 0.1"
        )
    if not 0 < cfg.size_tolerance < 1:
        raise SubspaceSetupError(
            f"size_tolerance: {cfg.size_tolerance} must lie between 0 and 1; fix: e.g. 0.01 (1%)"
        )
    if cfg.grid_size == 1 or cfg.grid_size < 0:
        raise SubspaceSetupError(
            f"grid_size: {cfg.grid_size} points a side draws no landscape; fix: 0 (none) or "
            "at least 2, e.g. grid_size: 7"
        )
    if cfg.grid_size and cfg.d < 2:
        raise SubspaceSetupError(
            f"grid_size: a 2-D landscape needs d >= 2, got d: {cfg.d}; fix: grid_size: 0 or d: 4"
        )
    if cfg.grid_margin < 0:
        raise SubspaceSetupError(f"grid_margin: {cfg.grid_margin} must be >= 0; fix: e.g. 0.25")


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
