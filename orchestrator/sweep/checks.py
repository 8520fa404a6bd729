"""Checks pydantic's per-field validation cannot make: training fields, search-space fit, cross-section rules.

They read the raw YAML data (defensively: any part may have the wrong shape, which
pydantic reports separately) so every problem in a file is found in one pass.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter, ValidationError

from orchestrator.sweep.distributions import Categorical, Constant, Distribution, IntRange
from orchestrator.sweep.errors import short, yaml_path
from orchestrator.sweep.one_search import one_search_problems
from orchestrator.sweep.transfer import transfer_problems
from orchestrator.sweep.trial_fields import (
    field_kind,
    misplaced_field_problem,
    training_fields,
    tunable_fields,
    value_problems,
)
from workers.methods import UnknownMethodError, parse_method

_DISTRIBUTION: TypeAdapter[Any] = TypeAdapter(Distribution)


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def training_problems(training: Any) -> list[str]:
    """Each `training:` key must be a settable TrialConfig field with a valid value."""
    if not isinstance(training, dict):
        return []  # pydantic reports the wrong type
    problems = []
    allowed = training_fields()
    for key, value in training.items():
        misplaced = misplaced_field_problem(str(key), "training")
        if misplaced:
            problems.append(misplaced)
        elif key not in allowed:
            problems.append(
                f"training.{key}: unknown training setting; allowed: {', '.join(allowed)}"
            )
        else:
            problems += [
                f"training.{key}: got {short(value)}; it {reason}"
                for reason in value_problems(key, value)
            ]
    return problems


def search_space_problems(search_space: Any) -> list[str]:
    """Keys must be tunable fields; each distribution must produce values the field accepts."""
    if not isinstance(search_space, dict):
        return []
    problems = []
    allowed = tunable_fields()
    for key, raw in search_space.items():
        misplaced = misplaced_field_problem(str(key), "search_space")
        if misplaced:
            problems.append(misplaced)
            continue
        if key not in allowed:
            problems.append(
                f"search_space.{key}: not a tunable training setting; use one of {', '.join(allowed)}"
            )
            continue
        try:
            dist = _DISTRIBUTION.validate_python(raw)
        except ValidationError:
            continue  # shape errors are reported by pydantic
        problems += _fit_problems(str(key), dist)
    return problems


def _fit_problems(name: str, dist: Any) -> list[str]:
    kind = field_kind(name)
    where = f"search_space.{name}"
    if not isinstance(dist, Categorical | Constant):
        if kind == "int" and not isinstance(dist, IntRange):
            return [
                f"{where}.distribution: {name} takes whole numbers, {dist.distribution} draws "
                "fractions; use `distribution: int`"
            ]
        if kind not in ("int", "float"):
            return [
                f"{where}.distribution: {name} is not a numeric range; list its options with `values: [...]`"
            ]
    problems = []
    for sub_loc, value in dist.checked_values():
        for reason in value_problems(name, value):
            problems.append(
                f"{yaml_path(('search_space', name, *sub_loc))}: got {short(value)}; it {reason}"
            )
    return problems


def cross_section_problems(raw: dict[str, Any]) -> list[str]:
    """Rules between sections: sampler vs objective, pruning vs objective, budgets vs methods."""
    problems = []
    optuna = _section(raw, "optuna")
    sampler = optuna.get("sampler", "tpe")
    objective = optuna.get("objective", "score")
    if sampler == "nsga2" and objective == "score":
        problems.append(
            "optuna.objective: sampler nsga2 trades off two objectives but objective is 'score'; "
            "set objective: score_vs_size, or use sampler: tpe to tune the score alone"
        )
    if objective == "score_vs_size" and sampler in ("tpe", "random"):
        problems.append(
            f"optuna.sampler: objective score_vs_size is tuned with sampler nsga2, not {sampler!r}; "
            "set sampler: nsga2, or objective: score"
        )
    if objective == "score_vs_size" and _section(raw, "pruning").get("enabled") is True:
        problems.append(
            "pruning.enabled: Optuna cannot prune multi-objective (score_vs_size) studies; "
            "set pruning.enabled: false, or objective: score"
        )
    problems += _length_problems(raw)
    problems += _budget_problems(raw)
    problems += one_search_problems(raw)
    problems += transfer_problems(raw)
    return problems


def _length_problems(raw: dict[str, Any]) -> list[str]:
    """The search's length is set one way: structure_updates or search_epochs."""
    training, space = _section(raw, "training"), _section(raw, "search_space")
    updates = "structure_updates" in training or "structure_updates" in space
    epochs = "search_epochs" in training or "search_epochs" in space
    if updates and epochs:
        where = "training" if "structure_updates" in training else "search_space"
        return [
            f"{where}.structure_updates: both structure_updates and search_epochs set the "
            "search's length; keep one of them"
        ]
    return []


def _budget_problems(raw: dict[str, Any]) -> list[str]:
    methods = raw.get("methods")
    budgets = raw.get("budgets")
    if not isinstance(methods, list) or (budgets is not None and not isinstance(budgets, list)):
        return []
    needing = []
    for name in methods:
        try:
            if isinstance(name, str) and parse_method(name, check_files=False).uses_budget:
                needing.append(name)
        except UnknownMethodError:
            continue
    if needing and not budgets:
        state = "is empty" if budgets == [] else "is missing"
        return [
            f"budgets: {', '.join(needing)} search under a parameter budget but budgets {state}; "
            "list at least one, e.g. budgets: ['0.01%', 20000]"
        ]
    return []


def non_finite_problems(raw: dict[str, Any]) -> list[str]:
    """Every `.inf` / `.nan` anywhere in the file: no setting, range or resource may be one.

    A NaN learning rate trains to NaN scores that look like a finished trial, and an
    infinite bound breaks the sampler; both are typos, so they are refused wherever
    they appear (``training.extra`` included)."""
    problems = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((key,), value) for key, value in raw.items()]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack += [((*loc, str(key)), item) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [((*loc, index), item) for index, item in enumerate(value)]
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                f"{yaml_path(loc)}: got {value}, which is not a finite number; write a finite "
                "number such as 0.003 (not .inf, .nan or an overflowing 1e309)"
            )
    return sorted(problems)


def semantic_problems(raw: dict[str, Any]) -> list[str]:
    """All checks of this module on one raw sweep mapping."""
    return (
        non_finite_problems(raw)
        + training_problems(raw.get("training"))
        + search_space_problems(raw.get("search_space"))
        + cross_section_problems(raw)
    )
