"""A sweep file takes W&B's common distribution names (README "A sweep file")."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sweep_config import MIXED

from orchestrator.sweep import SweepValidationError, parse_sweep
from orchestrator.sweep.distributions import IntRange, LogUniform


def test_log_uniform_values_and_int_uniform_are_accepted(tmp_path: Path) -> None:
    text = MIXED.replace(
        "delta_lr: {distribution: log_uniform,", "delta_lr: {distribution: log_uniform_values,"
    ).replace("search_steps: {distribution: int,", "search_steps: {distribution: int_uniform,")
    sweep = parse_sweep(text, tmp_path)
    delta_lr = sweep.search_space["delta_lr"]
    assert isinstance(delta_lr, LogUniform) and (delta_lr.min, delta_lr.max) == (1e-4, 3e-2)
    steps = sweep.search_space["search_steps"]
    assert isinstance(steps, IntRange) and (steps.min, steps.max, steps.step) == (100, 400, 50)


def test_wandb_log_uniform_in_log_space_is_refused_with_the_equivalent(tmp_path: Path) -> None:
    # W&B's log_uniform draws exp(min)..exp(max); here min/max are the values themselves
    text = MIXED.replace(
        "delta_lr: {distribution: log_uniform, min: 1e-4, max: 3e-2}",
        "delta_lr: {distribution: log_uniform, min: -9.2, max: -3.5}",
    )
    with pytest.raises(SweepValidationError) as error:
        parse_sweep(text, tmp_path)
    assert any("log_uniform_values" in line for line in error.value.problems)
