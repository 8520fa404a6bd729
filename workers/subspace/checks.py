"""Checks of a subspace config that need no model and no torch (the sweep validator
runs them too). Every problem is one line ``<field>: what is wrong; fix: what to write``."""

from __future__ import annotations

import math

from workers.subspace.types import SubspaceConfig

# the DETs of search_space.subspace.DETS (a test keeps the two equal)
DETS = ("adapter", "lora", "prefix")
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
    if cfg.stage2_lr_trials < 0:
        raise SubspaceSetupError(
            f"stage2_lr_trials: {cfg.stage2_lr_trials} must be >= 0; fix: 0 (no tuning) or e.g. 6"
        )
    if cfg.stage2_lr_trials and cfg.stage2_lr_range is None:
        raise SubspaceSetupError(
            "stage2_lr_range: tuning the stage-2 lr needs a range; fix: e.g. [0.003, 0.3]"
        )
    if cfg.stage2_lr_range is not None:
        low, high = cfg.stage2_lr_range
        if not 0 < low < high < math.inf:
            raise SubspaceSetupError(
                f"stage2_lr_range: [{low}, {high}] must be two positive numbers, low < high; "
                "fix: e.g. [0.003, 0.3]"
            )
    if cfg.grid_margin < 0:
        raise SubspaceSetupError(f"grid_margin: {cfg.grid_margin} must be >= 0; fix: e.g. 0.25")
