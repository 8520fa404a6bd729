"""`SweepBase`: the fields every kind of sweep file has, checked one way.

A structure-search sweep (`SweepConfig`) and a subspace sweep (`SubspaceSweepConfig`)
both name a model, tasks, seeds, a data folder, services and a run folder; they are
declared and validated here once, so a rule (or its message and fix) cannot drift
between the two. Each kind adds its own sections.
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
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestrator import paths
from orchestrator.locations import resolve_path
from orchestrator.sweep.errors import short
from orchestrator.sweep.limits import SEED_MAX, maximum
from orchestrator.sweep.sections import (
    MlflowSettings,
    OptunaSettings,
    ResourceSettings,
    base_dir_of,
)
from workers.data.tasks import UnknownTaskError, get_task

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Top-level keys starting with this are ignored (as in docker compose): the place to anchor
# shared settings that sections merge in with ``<<: *name``.
EXTENSION_PREFIX = "x-"
HUB_ID = re.compile(r"^(?=.{1,96}$)[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
NO_DATA_DIR = "or remove data_dir to load tasks from the Hugging Face hub"


def _known_task(name: str) -> str:
    try:
        get_task(name)
    except UnknownTaskError as err:
        raise ValueError(str(err)) from None
    return name


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
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
ModelName = Annotated[str, AfterValidator(_valid_model)]


def no_duplicates(values: list[Any], what: str) -> list[Any]:
    """`values` unchanged, or an error naming the first repeated one and both positions."""
    first_index: dict[Any, int] = {}
    for index, value in enumerate(values):
        if value in first_index:
            raise ValueError(
                f"{what} {short(value)} is listed twice (at [{first_index[value]}] and [{index}]); "
                "list each once"
            )
        first_index[value] = index
    return values


def without_extensions(data: dict[Any, Any]) -> dict[Any, Any]:
    """The mapping without its top-level ``x-`` keys (YAML anchors users share settings with)."""
    return {
        key: value
        for key, value in data.items()
        if not (isinstance(key, str) and key.startswith(EXTENSION_PREFIX))
    }


class SweepBase(BaseModel):
    """Model, tasks, seeds, data, services and run folder: what every sweep kind names."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(
        default=None, pattern=NAME_PATTERN, max_length=maximum("name_length")
    )  # None: the file's stem
    model: ModelName = Field(min_length=1)
    tasks: list[TaskName] = Field(min_length=1)
    data_dir: str | None = None
    seeds: list[Seed] = Field(min_length=1)
    optuna: OptunaSettings = Field(default_factory=OptunaSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    run_dir: str | None = None  # None: ./runs/<name> under the working directory

    @field_validator("data_dir")
    @classmethod
    def _existing_data_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError(
                f"is empty; give the folder holding glue/ and superglue/, {NO_DATA_DIR}"
            )
        path = resolve_path(value, base_dir_of(info))
        if path.exists() and not path.is_dir():
            raise ValueError(
                f"{str(path)!r} is a file, not a folder; give the folder holding glue/ and "
                f"superglue/, {NO_DATA_DIR}"
            )
        if not path.is_dir():
            raise ValueError(
                f"folder {str(path)!r} does not exist; give the folder holding glue/ and "
                "superglue/ (relative paths resolve against the sweep file's folder), "
                + NO_DATA_DIR
            )
        return str(path)

    @field_validator("run_dir")
    @classmethod
    def _absolute_run_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else str(resolve_path(value, base_dir_of(info)))

    @field_validator("tasks", "seeds")
    @classmethod
    def _unique(cls, values: list[Any], info: ValidationInfo) -> list[Any]:
        """Each task and seed once; the message names one (``tasks`` -> ``task``)."""
        return no_duplicates(values, str(info.field_name).removesuffix("s"))

    @model_validator(mode="after")
    def _default_name(self, info: ValidationInfo) -> SweepBase:
        """No ``name``: the file's stem, made a valid name."""
        if self.name is None:
            source = (info.context or {}).get("source") or "sweep"
            name = re.sub(r"[^A-Za-z0-9._-]", "-", Path(str(source)).stem).lstrip("._-")
            self.name = name[: maximum("name_length")] or "sweep"
        return self

    @property
    def sweep_name(self) -> str:
        """The name (always set after validation)."""
        return self.name or "sweep"

    @property
    def run_path(self) -> Path:
        """Absolute folder for this sweep's outputs (the runner's rule, `orchestrator.paths`)."""
        return paths.resolve_run_dir(self.run_dir, self.sweep_name)

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI a run would use without command-line overrides."""
        return self.mlflow.tracking_uri or paths.default_tracking_uri()
