"""From a plan cell to a `TrialConfig`: fixed settings, Optuna-sampled values, the cell's axes.

The same function builds tuning trials (values from an `optuna.Trial`) and the final
seeded runs (values from the study's best trial), so both see identical settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workers.trial_types import TrialConfig

if TYPE_CHECKING:
    import optuna

    from orchestrator.sweep.config import SweepConfig
    from orchestrator.sweep.plan import Cell


def config_for(
    sweep: SweepConfig, cell: Cell, seed: int, params: Mapping[str, Any] | None = None
) -> TrialConfig:
    """The trial config of `cell` at `seed`, with tuned `params` over the sweep's settings."""
    values: dict[str, Any] = dict(sweep.training)
    for name, dist in sweep.search_space.items():
        if not dist.is_tuned:  # constants and single values hold for every cell
            values[name] = dist.fixed_value()
    unknown = sorted(set(params or {}) - set(cell.tuned_params))
    if unknown:
        raise ValueError(
            f"params {unknown} are not tuned in cell {cell.key} (tuned: "
            f"{', '.join(cell.tuned_params) or 'none'}); pass only the cell's tuned params"
        )
    values.update(params or {})
    values.update(
        model=sweep.model,
        task=cell.task,
        method=cell.method,
        budget=cell.budget,
        seed=seed,
        data_dir=sweep.data_dir,
    )
    return TrialConfig.model_validate(values)


def suggest_config(trial: optuna.Trial, sweep: SweepConfig, cell: Cell) -> TrialConfig:
    """A tuning trial's config: each of the cell's tuned fields sampled from its distribution."""
    params = {name: sweep.search_space[name].suggest(trial, name) for name in cell.tuned_params}
    return config_for(sweep, cell, cell.tune_seed, params)
