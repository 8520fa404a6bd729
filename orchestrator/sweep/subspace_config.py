"""A subspace sweep: a sweep file with a ``subspace:`` section instead of methods/budgets.

    name: subspace-minilm
    model: sentence-transformers/all-MiniLM-L6-v2
    tasks: [glue/sst2, glue/rte]
    seeds: [1, 2, 3]
    data_dir: ../shared/data
    subspace:            # any field of workers.subspace.SubspaceConfig but the five below
      dets: [adapter, lora, prefix]
      target_size: 69120
      d: 4
      stage2_lr_range: [0.003, 0.3]   # with optuna.trials_per_cell: Optuna tunes it on dev
    optuna: {trials_per_cell: 4}
    resources: {cpus_per_trial: 1}
    mlflow: {experiment: s3delta}

One experiment per task x seed. Problems are ``subspace.<field>: <what>; <fix>`` lines,
found without torch (sizes that cannot be matched are checked by the runner, before any
work, since that needs the backbone's shapes).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import Field, ModelWrapValidatorHandler, ValidationError, model_validator

from orchestrator.sweep.load import load_as
from orchestrator.sweep.problems import problem_errors, raise_errors, reraisable
from orchestrator.sweep.sweep_base import SweepBase, without_extensions
from workers.subspace.checks import SubspaceSetupError, check_dets, check_numbers
from workers.subspace.types import SubspaceConfig

SECTION = "subspace"
# set by the sweep itself, per experiment
RESERVED = {
    "model": "model:",
    "task": "tasks:",
    "seed": "seeds:",
    "data_dir": "data_dir:",
    "output_dir": "the run folder",
}


def section_problems(values: Any, trials: int) -> list[str]:
    """Every problem of the ``subspace:`` mapping, as ``subspace.<field>: ...`` lines."""
    if not isinstance(values, dict):
        return [f"{SECTION}: must be a mapping of subspace settings, e.g. d: 4"]
    problems = [
        f"{SECTION}.{key}: is set by the sweep ({where}); remove it here"
        for key, where in RESERVED.items()
        if key in values
    ]
    settings = {k: v for k, v in values.items() if k not in RESERVED}
    if trials > 1 and settings.get("stage2_lr_range") is not None:
        settings.setdefault("stage2_lr_trials", trials)
    try:
        cfg = SubspaceConfig(**settings)
    except ValidationError as err:
        allowed = sorted(set(SubspaceConfig.model_fields) - set(RESERVED) - {"extra"})
        for item in err.errors():
            path = ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                close = difflib.get_close_matches(path, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.append(
                    f"{SECTION}.{path}: is not a subspace setting; {hint}use one of "
                    f"{', '.join(allowed)}"
                )
            else:
                problems.append(f"{SECTION}.{path}: {item['msg']}")
        # the rules below still run on the settings that are well-formed
        bad = {str(item["loc"][0]) for item in err.errors() if item["loc"]}
        try:
            cfg = SubspaceConfig(**{k: v for k, v in settings.items() if k not in bad})
        except ValidationError:
            return problems
    for check in (lambda: check_dets(cfg.dets), lambda: check_numbers(cfg)):
        try:
            check()
        except SubspaceSetupError as err:
            problems.append(f"{SECTION}.{err}")
    return problems


class SubspaceSweepConfig(SweepBase):
    """One subspace experiment per task x seed, run like a sweep. The fields every sweep
    kind shares (model, tasks, seeds, services, ...) are `SweepBase`'s."""

    subspace: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _whole_file(
        cls, data: Any, handler: ModelWrapValidatorHandler[SubspaceSweepConfig]
    ) -> SubspaceSweepConfig:
        """Field errors and the ``subspace:`` section's problems, all at once."""
        if not isinstance(data, dict):
            return handler(data)
        data = without_extensions(data)
        config: SubspaceSweepConfig | None = None
        try:
            config = handler(data)
        except ValidationError as err:
            errors = [e for e in reraisable(err) if tuple(e["loc"])[:1] != (SECTION,)]
        else:
            errors = []
        optuna = data.get("optuna")
        trials = optuna.get("trials_per_cell", 0) if isinstance(optuna, dict) else 0
        errors += problem_errors(section_problems(data.get(SECTION, {}), int(trials or 0)))
        raise_errors(cls.__name__, errors)
        assert config is not None
        return config

    def experiment_config(self, task: str, seed: int, output_dir: Path) -> dict[str, Any]:
        """The `SubspaceConfig` fields of the experiment on ``task`` with ``seed``."""
        settings = dict(self.subspace)
        if self.optuna.trials_per_cell > 1 and settings.get("stage2_lr_range") is not None:
            settings.setdefault("stage2_lr_trials", self.optuna.trials_per_cell)
        return {
            **settings,
            "model": self.model,
            "task": task,
            "seed": seed,
            "data_dir": self.data_dir,
            "output_dir": str(output_dir),
        }


def is_subspace_sweep(raw: Any) -> bool:
    """Whether parsed sweep YAML asks for subspace experiments."""
    return isinstance(raw, dict) and SECTION in raw


def load_subspace_sweep(path: str | Path) -> SubspaceSweepConfig:
    """Read and validate a subspace sweep file; `SweepValidationError` lists every problem."""
    return load_as(SubspaceSweepConfig, path)
