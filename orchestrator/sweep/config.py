"""`SweepConfig`: one validated sweep file (model, cells, training settings, tuning, services).

`SweepConfig.model_validate` makes every check: the fields (pydantic), then the rules
across sections and the training values (`checks`), then, on a file with no other
problem, sizes, data and structure files (`setup_checks`); every problem of a file is
raised at once. `orchestrator.sweep.load_sweep` reads the YAML and turns each error
into a ``<yaml.path>: <problem>; <fix>`` line. All paths and URLs held here are absolute.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator import paths
from orchestrator.locations import resolve_path
from orchestrator.sweep.checks import semantic_problems
from orchestrator.sweep.distributions import Categorical, Constant, Distribution
from orchestrator.sweep.one_search import LARGEST, largest_budget
from orchestrator.sweep.problems import problem_errors, raise_errors, reraisable
from orchestrator.sweep.sections import PruningSettings, base_dir_of
from orchestrator.sweep.sequential_seeds import SequentialSeeds, sequential_problems, split_seeds
from orchestrator.sweep.setup_checks import (
    count_problems,
    data_problems,
    device_problems,
    structure_file_problems,
)
from orchestrator.sweep.sweep_base import SweepBase, no_duplicates, without_extensions
from orchestrator.sweep.trial_fields import coerce
from search_space.budget import BudgetError, parse_budget
from workers.methods import Method, UnknownMethodError, parse_method, with_structure_file


def _known_method(name: str, info: ValidationInfo) -> str:
    """Validate a method; a relative structure file (``manual/<file>.json``) becomes absolute."""
    name = with_structure_file(name, lambda path: str(resolve_path(path, base_dir_of(info))))
    try:
        parse_method(name)
    except UnknownMethodError as err:
        raise ValueError(str(err)) from None
    return name


def _budget_text(value: Any) -> str:
    """Canonical budget text, so equal budgets are equal strings (and so one cell, one folder):
    ``'0.01%'``, ``'0.01 %'`` and ``'1e-2%'`` become ``'0.01%'``; ``2e4``/``'20000'`` become
    ``'20000'``."""
    try:
        spec = parse_budget(value)
    except BudgetError as err:
        raise ValueError(str(err)) from None
    if spec.kind == "absolute":
        return str(int(spec.value))
    number = repr(float(spec.value))
    return (number[:-2] if number.endswith(".0") else number) + "%"


MethodName = Annotated[str, AfterValidator(_known_method)]
BudgetText = Annotated[Any, AfterValidator(_budget_text)]


class SweepConfig(SweepBase):
    """A whole sweep: cells are tasks x methods x budgets, each tuned by Optuna then seeded.
    The fields every sweep kind shares (model, tasks, seeds, services, ...) are `SweepBase`'s."""

    methods: list[MethodName] = Field(min_length=1)
    budgets: list[BudgetText] = Field(default_factory=list)
    # the `TrainingSettings` (`trial_fields`) this sweep sets, as the trial will hold them
    training: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, Distribution] = Field(default_factory=dict)
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    # search once per task and seed at this budget (one of budgets, or "largest") and
    # re-solve that search at the other budgets (orchestrator.sweep.one_search)
    one_search_budget: str | int | None = None
    # ``seeds: {start, max, until: decided, margin, baseline}``: taken apart by
    # `split_seeds` (``seeds`` holds the start seeds), None for a plain list
    _sequential_seeds: SequentialSeeds | None = PrivateAttr(default=None)

    @field_validator("one_search_budget")
    @classmethod
    def _one_search_text(cls, value: str | int | None) -> str | None:
        if value is None or value == LARGEST:
            return value  # type: ignore[return-value]
        try:
            return _budget_text(value)
        except ValueError as err:
            raise ValueError(f"{err}; or write 'largest'") from None

    @field_validator("methods", "budgets")
    @classmethod
    def _unique_cells(cls, values: list[str], info: ValidationInfo) -> list[str]:
        return no_duplicates(values, str(info.field_name).removesuffix("s"))

    @model_validator(mode="after")
    def _fill_defaults(self) -> SweepConfig:
        """The pruning default. ``run_dir`` stays None when the file does not set it: the
        runner's default (`orchestrator.paths`) then applies, which differs inside a Ray job."""
        if self.pruning.enabled is None:
            self.pruning.enabled = not self.optuna.multi_objective
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _whole_file(cls, data: Any, handler: ModelWrapValidatorHandler[SweepConfig]) -> SweepConfig:
        """The fields, then the rules that read several of them, every problem at once.

        Field errors (pydantic) and the training, search-space and cross-section rules
        (`checks`, on the raw mapping, so they hold even where a field failed) are raised
        together; the setup checks only run on a file with no other problem. Top-level
        ``x-`` keys are dropped first, and a ``seeds`` mapping is taken apart
        (`sequential_seeds`)."""
        if not isinstance(data, dict):
            return handler(data)
        data = without_extensions(data)
        raw_seeds = data.get("seeds")
        data, sequential, errors = split_seeds(data)
        config: SweepConfig | None = None
        try:
            config = handler(data)
        except ValidationError as err:
            errors += reraisable(err)
        errors += problem_errors(
            semantic_problems(data) + sequential_problems(raw_seeds, data.get("methods"))
        )
        raise_errors(cls.__name__, errors)
        assert config is not None  # no errors: the handler returned
        config._sequential_seeds = sequential
        config._hold_as_trials_do()
        raise_errors(cls.__name__, problem_errors(config._setup_problems()))
        return config

    def _hold_as_trials_do(self) -> None:
        """Training and search-space values as the trial will hold them (``1`` -> ``1.0``
        for a float field); only called once `checks` found them valid."""
        self.training = {key: coerce(key, value) for key, value in self.training.items()}
        self.search_space = {
            key: _coerced_distribution(key, dist) for key, dist in self.search_space.items()
        }

    def _setup_problems(self) -> list[str]:
        """Sizes against the limits, data files, the device, structure files (`setup_checks`)."""
        cells_per_task = sum(len(self.budgets) if m.uses_budget else 1 for m in self.parsed_methods)
        return (
            count_problems(
                seeds=self.sequential_seeds.max if self.sequential_seeds else len(self.seeds),
                trials_per_cell=self.optuna.trials_per_cell,
                tasks=len(self.tasks),
                cells_per_task=cells_per_task,
            )
            + data_problems(self.tasks, self.data_dir)
            + device_problems(self.training.get("device"), self.resources.gpus_per_trial)
            + structure_file_problems(self.methods, self.model)
        )

    @property
    def sequential_seeds(self) -> SequentialSeeds | None:
        """``seeds: {start, max, until: decided, ...}`` (`seeds` then holds ``start``);
        None when ``seeds`` is a plain list."""
        return self._sequential_seeds

    @property
    def one_search_at(self) -> str | None:
        """The budget text the one search runs at (``one_search_budget`` resolved), or None."""
        if self.one_search_budget == LARGEST:
            return largest_budget(self.budgets)
        return None if self.one_search_budget is None else str(self.one_search_budget)

    @property
    def parsed_methods(self) -> list[Method]:
        """Methods as `workers.methods.Method` (family, budget use)."""
        return [parse_method(name) for name in self.methods]

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL a run would use without command-line overrides."""
        return self.optuna.storage or paths.default_optuna_storage(self.run_path)


def _coerced_distribution(name: str, dist: Any) -> Any:
    if isinstance(dist, Categorical):
        return dist.model_copy(update={"values": [coerce(name, v) for v in dist.values]})
    if isinstance(dist, Constant):
        return dist.model_copy(update={"value": coerce(name, dist.value)})
    return dist
