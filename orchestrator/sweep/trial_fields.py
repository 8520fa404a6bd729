"""Which `TrialConfig` fields a sweep file may set, where, and what values they take.

The sweep's ``training:`` section and its ``search_space:`` both write `TrialConfig`
fields; this module is the one place that knows which fields belong to the sweep's
cell axes (task, method, ...), which the orchestrator sets per trial, and checks a
value against the field exactly as a trial will: through `TrainingSettings`, a model
derived from `TrialConfig` field by field (nothing re-declared, so a new TrialConfig
field is settable in sweeps at once).
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from orchestrator.sweep.limits import field_bound_problems
from workers.trial_types import TrialConfig

# Fields that are the sweep's own axes: each names where to write it instead.
CELL_FIELDS: dict[str, str] = {
    "model": "the top-level `model:`",
    "task": "the top-level `tasks:` list",
    "method": "the top-level `methods:` list",
    "budget": "the top-level `budgets:` list",
    "seed": "the top-level `seeds:` list",
    "data_dir": "the top-level `data_dir:`",
}
# Set by the orchestrator per trial (under run_dir), so a shared value would collide.
ORCHESTRATOR_FIELDS: tuple[str, ...] = (
    "output_dir",
    "checkpoint_dir",
    "cache_dir",
    "logits_from",
    "structure_from",
)
# Settable in `training:` but meaningless to tune.
UNTUNABLE_FIELDS: tuple[str, ...] = ("device", "num_threads", "extra", "checkpoint_every")

FieldKind = Literal["float", "int", "bool", "choice", "text", "other"]


def training_fields() -> list[str]:
    """Fields allowed under `training:`."""
    return list(TrainingSettings.model_fields)


def _training_settings() -> type[BaseModel]:
    blocked = set(CELL_FIELDS) | set(ORCHESTRATOR_FIELDS)
    fields: dict[str, Any] = {
        name: (info.annotation, copy.deepcopy(info))
        for name, info in TrialConfig.model_fields.items()
        if name not in blocked
    }
    return create_model(
        "TrainingSettings",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="The `TrialConfig` fields a sweep's ``training:`` section may set, validated "
        "strictly (a quoted number is a typo, not a number). Bounds: `limits`.",
        **fields,
    )


TrainingSettings = _training_settings()


def tunable_fields() -> list[str]:
    """Fields allowed as `search_space:` keys: scalar fields a trial's outcome depends on."""
    return [
        name
        for name in training_fields()
        if name not in UNTUNABLE_FIELDS and field_kind(name) != "other"
    ]


def misplaced_field_problem(name: str, section: str) -> str | None:
    """Why `name` cannot appear in `section` ('training' or 'search_space'), or None."""
    if name in CELL_FIELDS:
        return f"{section}.{name}: is one of the sweep's axes, not a {section} setting; set it in {CELL_FIELDS[name]}"
    if name in ORCHESTRATOR_FIELDS:
        return f"{section}.{name}: is set per trial by the orchestrator under run_dir; remove it (set `run_dir:` to choose where outputs go)"
    if section == "search_space" and (
        name in UNTUNABLE_FIELDS
        or (name in TrainingSettings.model_fields and field_kind(name) == "other")
    ):
        return f"search_space.{name}: cannot be tuned; set it under `training:` instead"
    return None


def field_kind(name: str) -> FieldKind:
    """The value type a field takes, ignoring ``None``: decides which distributions fit it."""
    annotation = TrainingSettings.model_fields[name].annotation
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    options = tuple(option for option in options if option is not type(None))
    if len(options) != 1:
        return "other"
    (only,) = options
    if typing.get_origin(only) is Literal:
        return "choice"
    kinds: dict[Any, FieldKind] = {float: "float", int: "int", bool: "bool", str: "text"}
    return kinds.get(only, "other")


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def value_problems(name: str, value: Any) -> list[str]:
    """Why `value` is not valid for field `name` (empty when it is), judged as a trial would."""
    try:
        TrainingSettings.model_validate({name: value})
    except ValidationError as err:
        return [
            _short_reason(item["type"], item.get("ctx") or {}, item["msg"]) for item in err.errors()
        ]
    return field_bound_problems(name, value)


def _short_reason(kind: str, ctx: dict[str, Any], message: str) -> str:
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return {
        "int_type": "must be a whole number",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a text value",
        "dict_type": "must be a mapping",
    }.get(kind, message)


def coerce(name: str, value: Any) -> Any:
    """The value as the trial will hold it (e.g. ``1`` -> ``1.0`` for a float field)."""
    return getattr(TrainingSettings.model_validate({name: value}), name)
