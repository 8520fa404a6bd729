"""`SweepConfig`: one validated sweep file (model, cells, training settings, tuning, services).

`SweepConfig.model_validate` makes every check: the fields (pydantic), then the rules
across sections and the training values (`checks`), then, on a file with no other
problem, sizes, data and structure files (`setup_checks`); every problem of a file is
raised at once. `orchestrator.sweep.load_sweep` reads the YAML and turns each error
into a ``<yaml.path>: <problem>; <fix>`` line. All paths and URLs held here are absolute.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator.locations import resolve_path
from orchestrator.sweep.checks import semantic_problems
from orchestrator.sweep.distributions import Categorical, Constant, Distribution
from orchestrator.sweep.errors import short
from orchestrator.sweep.limits import SEED_MAX, maximum
from orchestrator.sweep.one_search import LARGEST, largest_budget
from orchestrator.sweep.problems import problem_errors, raise_errors, reraisable
from orchestrator.sweep.sections import (
    MlflowSettings,
    OptunaSettings,
    PruningSettings,
    ResourceSettings,
    base_dir_of,
)
from orchestrator.sweep.setup_checks import (
    count_problems,
    data_problems,
    device_problems,
    structure_file_problems,
)
from orchestrator.sweep.trial_fields import coerce
from search_space.budget import BudgetError, parse_budget
from workers.data.tasks import UnknownTaskError, get_task
from workers.methods import Method, UnknownMethodError, parse_method, with_structure_file

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Top-level keys starting with this are ignored (as in docker compose): the place to anchor
# shared settings that sections merge in with ``<<: *name``.
EXTENSION_PREFIX = "x-"
HUB_ID = re.compile(r"^(?=.{1,96}$)[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _known_task(name: str) -> str:
    try:
        get_task(name)
    except UnknownTaskError as err:
        raise ValueError(str(err)) from None
    return name


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


def _valid_model(value: str, info: ValidationInfo) -> str:
    """An existing local model folder (made absolute) or a well-formed hub id."""
    if len(value) > 1000:
        raise ValueError(
            f"is {len(value):,} characters long; give a hub id such as "
            "sentence-transformers/all-MiniLM-L6-v2 or a local model folder"
        )
    local = resolve_path(value, base_dir_of(info)) if "\x00" not in value else None
    if local is not None and local.is_dir():
        return str(local)
    looks_local = value.startswith(("/", ".", "~")) or value.count("/") > 1
    if looks_local or not HUB_ID.match(value):
        where = f"folder {str(local)!r} does not exist and " if looks_local else ""
        raise ValueError(
            f"{where}{short(value)} is not a hub id; write a hub id such as "
            "sentence-transformers/all-MiniLM-L6-v2 (letters, digits, '-', '_', '.', one '/', "
            "at most 96 characters) or the path of a local model folder"
        )
    return value


TaskName = Annotated[str, AfterValidator(_known_task)]
MethodName = Annotated[str, AfterValidator(_known_method)]
BudgetText = Annotated[Any, AfterValidator(_budget_text)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
ModelName = Annotated[str, AfterValidator(_valid_model)]


def _no_duplicates(values: list[Any], what: str) -> list[Any]:
    first_index: dict[Any, int] = {}
    for index, value in enumerate(values):
        if value in first_index:
            raise ValueError(
                f"{what} {short(value)} is listed twice (at [{first_index[value]}] and [{index}]); "
                "list each once"
            )
        first_index[value] = index
    return values


class SweepConfig(BaseModel):
    """A whole sweep: cells are tasks x methods x budgets, each tuned by Optuna then seeded."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(
        default=None, pattern=NAME_PATTERN, max_length=maximum("name_length")
    )  # None: the file's stem
    model: ModelName = Field(min_length=1)
    tasks: list[TaskName] = Field(min_length=1)
    data_dir: str | None = None
    methods: list[MethodName] = Field(min_length=1)
    budgets: list[BudgetText] = Field(default_factory=list)
    seeds: list[Seed] = Field(min_length=1)
    # the `TrainingSettings` (`trial_fields`) this sweep sets, as the trial will hold them
    training: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, Distribution] = Field(default_factory=dict)
    optuna: OptunaSettings = Field(default_factory=OptunaSettings)
    pruning: PruningSettings = Field(default_factory=PruningSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    run_dir: str | None = None  # None: ./runs/<name> under the working directory
    # search once per task and seed at this budget (one of budgets, or "largest") and
    # re-solve that search at the other budgets (orchestrator.sweep.one_search)
    one_search_budget: str | int | None = None

    @field_validator("data_dir")
    @classmethod
    def _existing_data_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError(
                "is empty; give the folder holding glue/ and superglue/, or remove data_dir "
                "to load tasks from the Hugging Face hub"
            )
        path = resolve_path(value, base_dir_of(info))
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"{str(path)!r} is a file, not a folder; give the folder holding glue/ and "
                "superglue/, or remove data_dir to load tasks from the Hugging Face hub"
            )
        if not path.is_dir():
            raise ValueError(
                f"folder {str(path)!r} does not exist; give the folder holding glue/ and "
                "superglue/ (relative paths resolve against the sweep file's folder), "
                "or remove data_dir to load tasks from the Hugging Face hub"
            )
        return str(path)

    @field_validator("run_dir")
    @classmethod
    def _absolute_run_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else str(resolve_path(value, base_dir_of(info)))

    @field_validator("one_search_budget")
    @classmethod
    def _one_search_text(cls, value: str | int | None) -> str | None:
        if value is None or value == LARGEST:
            return value  # type: ignore[return-value]
        try:
            return _budget_text(value)
        except ValueError as err:
            raise ValueError(f"{err}; or write 'largest'") from None

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, values: list[str]) -> list[str]:
        return _no_duplicates(values, "task")

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, values: list[str]) -> list[str]:
        return _no_duplicates(values, "method")

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, values: list[str]) -> list[str]:
        return _no_duplicates(values, "budget")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, values: list[int]) -> list[int]:
        return _no_duplicates(values, "seed")

    @model_validator(mode="after")
    def _fill_defaults(self, info: ValidationInfo) -> SweepConfig:
        """Name and pruning defaults. ``run_dir`` stays None when the file does not set it:
        the runner's default (`orchestrator.paths`) then applies, which differs inside a
        Ray job."""
        context = info.context or {}
        if self.name is None:
            stem = Path(str(context.get("source") or "sweep")).stem
            name = re.sub(r"[^A-Za-z0-9._-]", "-", stem).lstrip("._-")
            self.name = name[: maximum("name_length")] or "sweep"
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
        ``x-`` keys are dropped first."""
        if not isinstance(data, dict):
            return handler(data)
        data = {
            key: value
            for key, value in data.items()
            if not (isinstance(key, str) and key.startswith(EXTENSION_PREFIX))
        }
        config: SweepConfig | None = None
        try:
            config = handler(data)
        except ValidationError as err:
            errors = reraisable(err)
        else:
            errors = []
        errors += problem_errors(semantic_problems(data))
        raise_errors(cls.__name__, errors)
        assert config is not None  # no errors: the handler returned
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
                seeds=len(self.seeds),
                trials_per_cell=self.optuna.trials_per_cell,
                tasks=len(self.tasks),
                cells_per_task=cells_per_task,
            )
            + data_problems(self.tasks, self.data_dir)
            + device_problems(self.training.get("device"), self.resources.gpus_per_trial)
            + structure_file_problems(self.methods, self.model)
        )

    @property
    def sweep_name(self) -> str:
        """The name (always set after validation)."""
        return self.name or "sweep"

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
    def run_path(self) -> Path:
        """Absolute folder for this sweep's outputs (the runner's rule, `orchestrator.paths`)."""
        from orchestrator import paths

        return paths.resolve_run_dir(self.run_dir, self.sweep_name)

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI a run would use without command-line overrides."""
        from orchestrator import paths

        return self.mlflow.tracking_uri or paths.default_tracking_uri()

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL a run would use without command-line overrides."""
        from orchestrator import paths

        return self.optuna.storage or paths.default_optuna_storage(self.run_path)


def _coerced_distribution(name: str, dist: Any) -> Any:
    if isinstance(dist, Categorical):
        return dist.model_copy(update={"values": [coerce(name, v) for v in dist.values]})
    if isinstance(dist, Constant):
        return dist.model_copy(update={"value": coerce(name, dist.value)})
    return dist
