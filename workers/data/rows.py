"""Row dicts in the Hugging Face hub schema -> `Example`: the one path every loader shares.

Local readers first translate the official files into the hub's field names (see
`local_files`), so label checks and task-specific fields are written once, here.
Hub schemas (datasets `nyu-mll/glue`, `aps/super_glue`): GLUE rows hold the
`TaskSpec.text_fields`, `label` (class id, or float for STS-B) and `idx`; COPA adds
`choice1/choice2/question`; WiC `word/start1/end1/start2/end2`; MultiRC rows are already
flat (one per answer) with `idx = {paragraph, question, answer}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workers.data.errors import TaskDataError
from workers.data.examples import Example
from workers.data.tasks import TaskSpec

STSB_RANGE = (0.0, 5.0)


class _RowProblem(Exception):
    """Internal: a problem with one row; turned into `TaskDataError` with the location."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def rows_to_examples(
    spec: TaskSpec, rows: Iterable[tuple[int | str, Mapping[str, Any]]], source: str
) -> list[Example]:
    """Convert (row number, hub-schema row) pairs; any bad row raises `TaskDataError`."""
    examples = []
    for position, (row_ref, row) in enumerate(rows):
        try:
            examples.append(row_to_example(spec, row, position))
        except _RowProblem as bad:
            raise TaskDataError(spec.name, source, bad.problem, bad.fix, row=row_ref) from None
    return examples


def row_to_example(spec: TaskSpec, row: Mapping[str, Any], position: int) -> Example:
    """One hub-schema row -> `Example` (raises `_RowProblem`; use `rows_to_examples`)."""
    label = _label(spec, row)
    if spec.kind == "choice":
        return Example(
            idx=_idx(row, position),
            text_a=_text(row, "premise"),
            label=label,
            question=_relation(row),
            choices=(_text(row, "choice1"), _text(row, "choice2")),
        )
    if spec.kind == "multirc":
        return Example(
            idx=position,
            text_a=_text(row, "paragraph"),
            text_b=_text(row, "question"),
            answer=_text(row, "answer"),
            label=label,
            group=_question_id(row),
        )
    if spec.name == "superglue/wic":
        s1, s2 = _text(row, "sentence1"), _text(row, "sentence2")
        return Example(
            idx=_idx(row, position),
            text_a=s1,
            text_b=s2,
            label=label,
            word=_text(row, "word"),
            spans=(_span(row, s1, "1"), _span(row, s2, "2")),
        )
    texts = [_text(row, name) for name in spec.text_fields]
    return Example(
        idx=_idx(row, position),
        text_a=texts[0],
        text_b=texts[1] if len(texts) > 1 else None,
        label=label,
    )


def _text(row: Mapping[str, Any], name: str) -> str:
    if name not in row:
        raise _RowProblem(
            f"field {name!r} is missing (fields present: {sorted(row)})",
            "use the official file for this task, whose rows all have this field",
        )
    value = row[name]
    if not isinstance(value, str):
        raise _RowProblem(
            f"field {name!r} is {value!r}, not text", f"put the text of {name!r} in the row"
        )
    return value


def _idx(row: Mapping[str, Any], position: int) -> int:
    value = row.get("idx")
    return value if isinstance(value, int) and not isinstance(value, bool) else position


def _label(spec: TaskSpec, row: Mapping[str, Any]) -> int | float:
    if "label" not in row:
        raise _RowProblem(
            "the row has no label", "load a labelled split (train or validation), not test"
        )
    value = row["label"]
    if spec.kind == "regression":
        return _score(value)
    allowed = ", ".join(f"{i}={word}" for i, word in enumerate(spec.labels))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if 0 <= value < len(spec.labels):
            return value
        hint = " (-1 marks an unlabelled test row)" if value == -1 else ""
        raise _RowProblem(f"label {value} is outside the label set{hint}", f"use one of {allowed}")
    if isinstance(value, str) and value in spec.labels:
        return spec.labels.index(value)
    raise _RowProblem(f"label {value!r} is not in the label set", f"use one of {allowed}")


def _score(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise _RowProblem(
            f"score {value!r} is not a number", "write the similarity score as a float, e.g. 3.8"
        ) from None
    low, high = STSB_RANGE
    if not low <= score <= high:  # also rejects NaN
        raise _RowProblem(
            f"score {score} is outside [{low}, {high}]", f"use a score between {low} and {high}"
        )
    return score


def _relation(row: Mapping[str, Any]) -> str:
    value = _text(row, "question")
    if value not in ("cause", "effect"):
        raise _RowProblem(
            f"COPA question {value!r} is neither 'cause' nor 'effect'",
            "set question to 'cause' or 'effect'",
        )
    return value


def _question_id(row: Mapping[str, Any]) -> int:
    idx = row.get("idx")
    if not (isinstance(idx, Mapping) and isinstance(idx.get("question"), int)):
        raise _RowProblem(
            f"MultiRC idx {idx!r} has no integer 'question' id",
            "give every answer row idx = {paragraph, question, answer} as in the hub schema",
        )
    return int(idx["question"])


def _span(row: Mapping[str, Any], sentence: str, which: str) -> tuple[int, int]:
    start, end = row.get(f"start{which}"), row.get(f"end{which}")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(sentence)):
        raise _RowProblem(
            f"target span start{which}={start!r}, end{which}={end!r} is not inside "
            f"sentence{which} (length {len(sentence)})",
            f"give character offsets with 0 <= start{which} < end{which} <= len(sentence{which})",
        )
    return start, end
