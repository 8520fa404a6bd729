"""Sweep files: schema, validation with actionable messages, the plan, and per-trial configs.

``load_sweep(path)`` returns a `SweepConfig` or raises `SweepValidationError` whose
``problems`` list every issue as ``<yaml.path>: <what is wrong>; <fix>``.
``build_plan(sweep)`` expands it into cells; ``suggest_config`` samples a trial.
"""

from orchestrator.sweep.config import SweepConfig
from orchestrator.sweep.errors import SweepValidationError
from orchestrator.sweep.load import load_sweep, parse_sweep
from orchestrator.sweep.plan import Cell, Plan, build_plan
from orchestrator.sweep.suggest import config_for, suggest_config

__all__ = [
    "Cell",
    "Plan",
    "SweepConfig",
    "SweepValidationError",
    "build_plan",
    "config_for",
    "load_sweep",
    "parse_sweep",
    "suggest_config",
]
