"""Read the official GLUE TSV and SuperGLUE JSONL files of a local data directory.

`data_dir` holds `glue/<Folder>/{train,dev}.tsv` (MNLI: `dev_matched.tsv`) and
`superglue/<Folder>/{train,val}.jsonl`, exactly as the official downloads unpack
(see /work/shared/data/README.md). Each reader only renames the official columns to
the hub schema; `rows.rows_to_examples` does the rest, as it does for hub data.

GLUE TSVs are read with quoting disabled, as the official GLUE loaders do: with CSV
quoting, stray `"` characters silently merge fields and drop rows (RTE test loses 15).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workers.data.errors import TaskDataError
from workers.data.examples import Example, TaskData
from workers.data.rows import rows_to_examples
from workers.data.tasks import TaskSpec, get_task

Row = tuple[int | str, dict[str, Any]]


@dataclass(frozen=True)
class GlueFormat:
    """How one GLUE task's official TSV maps to the hub schema."""

    fields: dict[str, str]  # hub field -> official column
    label_column: str
    label_type: Literal["int", "word", "float"]
    idx_column: str | None = None
    columns: tuple[str, ...] | None = None  # set for header-less files (CoLA)
    validation_file: str = "dev.tsv"


GLUE_FORMATS: dict[str, GlueFormat] = {
    "glue/cola": GlueFormat(
        {"sentence": "sentence"},
        "label",
        "int",
        columns=("source", "label", "marker", "sentence"),
    ),
    "glue/sst2": GlueFormat({"sentence": "sentence"}, "label", "int"),
    "glue/mrpc": GlueFormat({"sentence1": "#1 String", "sentence2": "#2 String"}, "Quality", "int"),
    "glue/stsb": GlueFormat(
        {"sentence1": "sentence1", "sentence2": "sentence2"}, "score", "float", "index"
    ),
    "glue/qqp": GlueFormat(
        {"question1": "question1", "question2": "question2"}, "is_duplicate", "int", "id"
    ),
    "glue/mnli": GlueFormat(
        {"premise": "sentence1", "hypothesis": "sentence2"},
        "gold_label",
        "word",
        "index",
        validation_file="dev_matched.tsv",
    ),
    "glue/qnli": GlueFormat(
        {"question": "question", "sentence": "sentence"}, "label", "word", "index"
    ),
    "glue/rte": GlueFormat(
        {"sentence1": "sentence1", "sentence2": "sentence2"}, "label", "word", "index"
    ),
}

SUPERGLUE_FILES = ("train.jsonl", "val.jsonl")


def official_files(task: str, data_dir: str | Path) -> tuple[Path, Path]:
    """(train file, validation file) of `task` under `data_dir`, whether or not they exist."""
    spec = get_task(task)
    folder = Path(data_dir) / spec.benchmark / spec.folder
    if spec.benchmark == "glue":
        return folder / "train.tsv", folder / GLUE_FORMATS[spec.name].validation_file
    train, validation = (folder / name for name in SUPERGLUE_FILES)
    return train, validation


def load_local(task: str, data_dir: str | Path) -> TaskData:
    """Load the official train and validation files of `task` from `data_dir`.

    A missing validation file is an error; a missing train file gives `train=None` with
    `train_missing` explaining the options (nothing is split or invented here).
    """
    spec = get_task(task)
    train_path, val_path = official_files(task, data_dir)
    folder = val_path.parent
    if not val_path.is_file():
        raise TaskDataError(
            spec.name,
            str(val_path),
            "the official validation file is missing",
            f"put the official {spec.folder} files under {folder} "
            "(layout as in the GLUE/SuperGLUE downloads), or load from the hub with data_dir=None",
        )
    validation = _read(spec, val_path)
    if not train_path.is_file():
        return TaskData(
            task=spec.name,
            train=None,
            validation=validation,
            source=str(folder),
            train_missing=(
                f"no training file {train_path}: train the task from the hub (data_dir=None), "
                "add the official train file, or opt in to split_validation_as_train(...) "
                "and report that the validation set was split"
            ),
        )
    return TaskData(
        task=spec.name, train=_read(spec, train_path), validation=validation, source=str(folder)
    )


def _read(spec: TaskSpec, path: Path) -> list[Example]:
    """The file's examples; a file that is binary, unreadable or without examples is a
    `TaskDataError` naming it (never a bare UnicodeDecodeError)."""
    rows = _glue_rows(spec, path) if spec.benchmark == "glue" else _superglue_rows(spec, path)
    official = f"replace it with the official {spec.folder} file"
    try:
        examples = rows_to_examples(spec, rows, str(path))
    except UnicodeDecodeError as err:
        raise TaskDataError(
            spec.name, str(path), f"is not UTF-8 text (byte {err.start})", official
        ) from None
    except OSError as err:
        raise TaskDataError(
            spec.name, str(path), f"cannot be read ({err.strerror})", official
        ) from None
    if not examples:
        raise TaskDataError(
            spec.name, str(path), "holds no examples (header only or empty)", official
        )
    return examples


def _glue_rows(spec: TaskSpec, path: Path) -> Iterator[Row]:
    fmt = GLUE_FORMATS[spec.name]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(fmt.columns) if fmt.columns else next(reader, None)
        if header is None:
            raise TaskDataError(spec.name, str(path), "the file is empty", "use the official file")
        needed = [*fmt.fields.values(), fmt.label_column]
        if fmt.idx_column:
            needed.append(fmt.idx_column)
        missing = [name for name in needed if name not in header]
        if missing:
            raise TaskDataError(
                spec.name,
                str(path),
                f"header lacks columns {missing} (header: {header})",
                f"use the official {spec.folder} file with columns {needed}",
                row=1,
            )
        for values in reader:
            if not values:
                continue  # blank line, as csv.DictReader in the official loaders skips it
            line = reader.line_num
            if len(values) != len(header):
                raise TaskDataError(
                    spec.name,
                    str(path),
                    f"{len(values)} tab-separated columns where the header has {len(header)}",
                    "fix the row so it has one value per column (no tabs inside a text)",
                    row=line,
                )
            yield line, _glue_row(spec, fmt, dict(zip(header, values, strict=True)), path, line)


def _glue_row(
    spec: TaskSpec, fmt: GlueFormat, record: Mapping[str, str], path: Path, line: int
) -> dict[str, Any]:
    row: dict[str, Any] = {hub: record[col] for hub, col in fmt.fields.items()}
    label = record[fmt.label_column]
    if fmt.label_type == "int":
        if not label.strip().isdigit():
            raise TaskDataError(
                spec.name,
                str(path),
                f"label {label!r} is not an integer class id",
                f"write the label as 0..{len(spec.labels) - 1}",
                row=line,
            )
        row["label"] = int(label)
    else:
        row["label"] = label  # words and float scores are checked in rows.py
    if fmt.idx_column and record[fmt.idx_column].isdigit():
        row["idx"] = int(record[fmt.idx_column])
    return row


def _superglue_rows(spec: TaskSpec, path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise TaskDataError(
                    spec.name,
                    str(path),
                    f"not valid JSON ({err.msg})",
                    "write one JSON object per line",
                    row=line,
                ) from None
            if not isinstance(record, dict):
                raise TaskDataError(
                    spec.name,
                    str(path),
                    f"a JSON {type(record).__name__}, not an object",
                    "write one JSON object per line",
                    row=line,
                )
            if spec.kind == "multirc":
                yield from _multirc_answers(spec, record, path, line)
            else:
                yield line, record


def _multirc_answers(
    spec: TaskSpec, record: dict[str, Any], path: Path, line: int
) -> Iterator[Row]:
    """Flatten one nested MultiRC passage into hub-schema rows, one per answer option."""
    try:
        passage = record["passage"]
        for q_pos, question in enumerate(passage["questions"]):
            for a_pos, answer in enumerate(question["answers"]):
                yield (
                    f"{line} (question {q_pos}, answer {a_pos})",
                    {
                        "paragraph": passage["text"],
                        "question": question["question"],
                        "answer": answer["text"],
                        "idx": {
                            "paragraph": record.get("idx"),
                            "question": question["idx"],
                            "answer": answer.get("idx"),
                        },
                        "label": answer["label"],
                    },
                )
    except (KeyError, TypeError) as err:
        raise TaskDataError(
            spec.name,
            str(path),
            f"MultiRC passage lacks {err}",
            "use the official nested layout passage.text / passage.questions[].question, "
            ".idx, .answers[].text, .label",
            row=line,
        ) from None
