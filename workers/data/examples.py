"""What one task example is, whatever file or hub split it came from.

A single flat record for every task keeps the encoders, the protocol and the metrics
task-agnostic; task-specific parts (COPA choices, WiC spans, MultiRC groups) are
optional fields that stay empty elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One scored unit: a sentence, a pair, a COPA question or one MultiRC answer.

    Text roles per task kind:
    - single sentence (CoLA, SST-2): `text_a`.
    - pairs (MRPC ... RTE, BoolQ question/passage, CB, WiC): `text_a`, `text_b`.
    - COPA: `text_a` = premise, `question` = "cause" | "effect", `choices` = (choice1, choice2).
    - MultiRC: `text_a` = paragraph, `text_b` = question, `answer` = the candidate answer,
      `group` = the question id (answers of one question are scored together by EM).
    - WiC: `word` and the character `spans` of the target word in `text_a` and `text_b`.
    """

    idx: int  # official index where the data has one, else the position in its split
    text_a: str
    label: int | float  # class id (COPA: chosen choice; MultiRC: 1 = correct answer) or score
    text_b: str | None = None
    answer: str | None = None
    question: str | None = None
    choices: tuple[str, ...] = ()
    word: str | None = None
    spans: tuple[tuple[int, int], tuple[int, int]] | None = None
    group: int | None = None


@dataclass(frozen=True)
class TaskData:
    """The official splits of one task as loaded, before the evaluation protocol is applied.

    `train` is None when no training file exists (e.g. BoolQ, WiC, MultiRC in the offline
    copy): nothing is invented; `train_missing` says why and what the options are.
    """

    task: str
    train: list[Example] | None
    validation: list[Example]
    source: str  # directory or hub id the data came from
    train_missing: str | None = None
    notes: tuple[str, ...] = ()  # deviations from the official splits, e.g. a split validation set
