"""The outer search space: one W&B-style distribution per tuned `TrialConfig` field.

Users know W&B sweeps, so the same spelling is accepted: ``{values: [...]}``,
``{value: x}``, ``{distribution: uniform|log_uniform|int, min, max}``, and W&B's names
``log_uniform_values`` (= our ``log_uniform``: min and max are the values themselves) and
``int_uniform`` (= ``int``). W&B's own ``log_uniform`` takes exp(min)..exp(max); ours takes
the values, and a non-positive min is refused with that hint. Each
distribution knows how to ask an Optuna trial for a value, so the sweep file is the
only place the search space is written down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationInfo,
    field_validator,
)

if TYPE_CHECKING:
    import optuna

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | None

DISTRIBUTION_HELP = (
    "write `distribution: uniform`, `log_uniform` or `int` with `min` and `max`, "
    "or `values: [...]` for a fixed set, or `value: x` for a constant "
    "(W&B's int_uniform is `int` here, log_uniform_values is `log_uniform`)"
)


class _Distribution(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @property
    def is_tuned(self) -> bool:
        """False when Optuna has nothing to choose (a constant or a single value)."""
        return True

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        """(location inside this entry, value) pairs that must be valid for the target field."""
        raise NotImplementedError

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """Ask the Optuna trial for this parameter's value."""
        raise NotImplementedError

    def fixed_value(self) -> Any:
        """The value of an untuned entry (a constant or a single value)."""
        raise TypeError(f"{type(self).__name__} is tuned; it has no fixed value")


class Categorical(_Distribution):
    """A fixed set of values, tried as Optuna categorical choices."""

    distribution: Literal["categorical"] = "categorical"
    values: list[Scalar] = Field(min_length=1)

    @property
    def is_tuned(self) -> bool:
        return len(self.values) > 1

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        return [(("values", index), value) for index, value in enumerate(self.values)]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if not self.is_tuned:
            return self.values[0]
        return trial.suggest_categorical(name, self.values)

    def fixed_value(self) -> Any:
        if self.is_tuned:
            return super().fixed_value()
        return self.values[0]


class Constant(_Distribution):
    """A single value: not tuned, but recorded with the search space."""

    distribution: Literal["constant"] = "constant"
    value: Scalar

    @property
    def is_tuned(self) -> bool:
        return False

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        return [(("value",), self.value)]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return self.value

    def fixed_value(self) -> Any:
        return self.value


def _check_max_above_min(value: float, info: ValidationInfo) -> float:
    low = info.data.get("min")
    if low is not None and not value > low:
        raise ValueError(
            f"max ({value}) must be greater than min ({low}); swap them or widen the range "
            "(for a single value use `value: x`)"
        )
    return value


class Uniform(_Distribution):
    """A float drawn uniformly from [min, max]."""

    distribution: Literal["uniform"]
    min: float
    max: float

    _max_above_min = field_validator("max")(_check_max_above_min)

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        return [(("min",), self.min), (("max",), self.max)]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_float(name, self.min, self.max)


class LogUniform(_Distribution):
    """A float drawn uniformly in log space from [min, max]; needs 0 < min < max."""

    distribution: Literal["log_uniform", "log_uniform_values"]
    min: float
    max: float

    @field_validator("min")
    @classmethod
    def _positive_min(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(
                f"log_uniform needs min > 0, got {value}; use a positive lower bound such as "
                "1e-5 (min and max are the values, as W&B's log_uniform_values), or "
                "`distribution: uniform` for ranges that include zero"
            )
        return value

    _max_above_min = field_validator("max")(_check_max_above_min)

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        return [(("min",), self.min), (("max",), self.max)]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_float(name, self.min, self.max, log=True)


class IntRange(_Distribution):
    """An integer from [min, max] in steps of `step` (optionally log-spaced)."""

    distribution: Literal["int", "int_uniform"]
    min: int
    max: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    _max_above_min = field_validator("max")(_check_max_above_min)

    @field_validator("log")
    @classmethod
    def _log_needs_positive(cls, value: bool, info: ValidationInfo) -> bool:
        low = info.data.get("min")
        if value and low is not None and low < 1:
            raise ValueError(
                f"log-spaced int needs min >= 1, got {low}; raise min or set log: false"
            )
        if value and info.data.get("step", 1) != 1:
            raise ValueError("Optuna cannot combine log: true with step > 1; drop one of them")
        return value

    def checked_values(self) -> list[tuple[tuple[str | int, ...], Any]]:
        return [(("min",), self.min), (("max",), self.max)]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_int(name, self.min, self.max, step=self.step, log=self.log)


DISTRIBUTION_TAGS = ("categorical", "constant", "uniform", "log_uniform", "int")
WANDB_ALIASES = {"log_uniform_values": "log_uniform", "int_uniform": "int"}


def _distribution_tag(raw: Any) -> str | None:
    """Which model reads this entry; `values`/`value` alone imply categorical/constant."""
    if isinstance(raw, _Distribution):
        return str(raw.distribution)  # type: ignore[attr-defined]
    if not isinstance(raw, dict):
        return None
    tag = raw.get("distribution")
    if tag is None:
        if "values" in raw:
            return "categorical"
        if "value" in raw:
            return "constant"
        return None
    tag = WANDB_ALIASES.get(tag, tag)
    return tag if tag in DISTRIBUTION_TAGS else None


Distribution = Annotated[
    Annotated[Categorical, Tag("categorical")]
    | Annotated[Constant, Tag("constant")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[LogUniform, Tag("log_uniform")]
    | Annotated[IntRange, Tag("int")],
    Discriminator(
        _distribution_tag,
        custom_error_type="distribution_unknown",
        custom_error_message="unknown or missing distribution",
    ),
]

DISTRIBUTION_KEYS: dict[str, tuple[str, ...]] = {
    "categorical": ("distribution", "values"),
    "constant": ("distribution", "value"),
    "uniform": ("distribution", "min", "max"),
    "log_uniform": ("distribution", "min", "max"),
    "int": ("distribution", "min", "max", "step", "log"),
}
