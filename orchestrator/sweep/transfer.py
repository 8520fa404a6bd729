"""Rules for ``transfer/<task>`` methods in a sweep: the source task is one of the sweep's
tasks and s3delta runs (a transfer cell retrains, per budget and seed, the structure of
the source task's s3delta final run; `workers.methods.transfer`)."""

from __future__ import annotations

from typing import Any

from workers.methods import SEARCHED_METHOD, UnknownMethodError, parse_method


def transfer_problems(raw: dict[str, Any]) -> list[str]:
    """``methods[i]: <why>; <fix>`` for each transfer method the sweep cannot feed."""
    methods, tasks = raw.get("methods"), raw.get("tasks")
    if not isinstance(methods, list):
        return []
    task_list = tasks if isinstance(tasks, list) else []
    searched = SEARCHED_METHOD in methods
    problems = []
    for index, name in enumerate(methods):
        try:
            method = parse_method(name, check_files=False) if isinstance(name, str) else None
        except UnknownMethodError:
            continue  # reported by the field's own validator
        if method is None or not method.spec.transfers:
            continue
        if method.arg not in task_list:
            problems.append(
                f"methods[{index}]: {name} retrains structures searched on {method.arg}, which "
                f"is not in tasks; add {method.arg} to tasks"
            )
        if not searched:
            problems.append(
                f"methods[{index}]: {name} retrains {SEARCHED_METHOD}'s structures, but "
                f"{SEARCHED_METHOD} is not in methods; add {SEARCHED_METHOD} to methods"
            )
    return problems
