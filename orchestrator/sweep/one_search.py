"""The sweep option ``one_search_budget``: one search per task and seed, every budget from it.

With ``one_search_budget: "0.05%"`` (one of ``budgets``) or ``"largest"``, the cells of a
method that can (`MethodSpec.one_search`, i.e. s3delta) search only at that budget; at
every other budget the same seed's search logits are re-solved at that budget
(`search_space.rebudget`) and retrained as usual, with the source cell's tuned settings
(those cells have no tuning trials of their own: nothing they could tune changes the
search). The MLflow run of such a trial has tags ``s3delta.source_budget``,
``s3delta.source_key`` and ``s3delta.source_run_id``.
"""

from __future__ import annotations

from typing import Any

from orchestrator.sweep.errors import short
from search_space.budget import BudgetError, parse_budget
from workers.methods import UnknownMethodError, parse_method

FIELD = "one_search_budget"
LARGEST = "largest"


def _budgets(raw: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """(text, parsed) of each parseable budget; None when budgets is not a list."""
    budgets = raw.get("budgets")
    if not isinstance(budgets, list):
        return None
    parsed = []
    for value in budgets:
        try:
            parsed.append((str(value), parse_budget(value)))
        except BudgetError:
            continue  # reported at budgets[i]
    return parsed


def largest_budget(budgets: list[Any]) -> str | None:
    """The largest of ``budgets`` when they are all of one kind (percent or count), else None."""
    parsed = [(str(b), parse_budget(b)) for b in budgets]
    if not parsed or len({spec.kind for _, spec in parsed}) > 1:
        return None
    return max(parsed, key=lambda item: item[1].value)[0]


def searching_methods(methods: Any) -> list[str]:
    """The methods of a sweep that can search once for every budget."""
    found = []
    for name in methods if isinstance(methods, list) else []:
        try:
            if isinstance(name, str) and parse_method(name, check_files=False).spec.one_search:
                found.append(name)
        except UnknownMethodError:
            continue
    return found


def one_search_problems(raw: dict[str, Any]) -> list[str]:
    """``one_search_budget`` must name one of the budgets (or 'largest') of a searching method."""
    value = raw.get(FIELD)
    if value is None:
        return []
    problems = []
    if not searching_methods(raw.get("methods")):
        problems.append(
            f"{FIELD}: no method in methods searches (s3delta does); add s3delta to methods "
            f"or remove {FIELD}"
        )
    budgets = _budgets(raw)
    if budgets is None or isinstance(value, bool) or not isinstance(value, str | int):
        return problems  # pydantic reports the wrong types
    if value == LARGEST:
        if budgets and len({spec.kind for _, spec in budgets}) > 1:
            problems.append(
                f"{FIELD}: 'largest' is undefined when budgets mix percentages and parameter "
                "counts; name the budget to search at, e.g. one_search_budget: "
                f"{short(budgets[0][0])}"
            )
        return problems
    try:
        wanted = parse_budget(value)
    except BudgetError:
        return problems  # reported by the field's own validator
    if not any(spec.kind == wanted.kind and spec.value == wanted.value for _, spec in budgets):
        listed = ", ".join(text for text, _ in budgets) or "none"
        problems.append(
            f"{FIELD}: {short(value)} is not one of budgets ({listed}); name one of them "
            "or 'largest'"
        )
    return problems
