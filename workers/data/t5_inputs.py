"""Text-to-text inputs and targets for T5-style models, and decoding of generated text.

Following the T5 paper: the input is the task name followed by `field: value` parts
(`"rte sentence1: ... sentence2: ..."`), the target is the label word; STS-B scores are
rounded to the nearest 0.2 and written with one decimal (`"3.8"`). MultiRC puts the
question and answer before the paragraph so truncation cuts the paragraph, not them.
Nothing here depends on a T5 vocabulary: any Hugging Face tokenizer works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from workers.data.examples import Example
from workers.data.tasks import TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

INVALID_CLASS = -1  # a generated text that is no label word: counts as wrong
INVALID_SCORE = -1.0  # T5's own default for an unparsable STS-B prediction
IGNORE_INDEX = -100  # target padding ignored by the cross-entropy loss


def t5_input_text(spec: TaskSpec, example: Example) -> str:
    """`"<task> field: value ..."` with the task's official field names."""
    values = _field_values(spec, example)
    order = ("question", "answer", "paragraph") if spec.kind == "multirc" else spec.text_fields
    parts = " ".join(f"{name}: {values[name]}" for name in order)
    return f"{spec.name.split('/')[1]} {parts}"


def t5_target_text(spec: TaskSpec, example: Example) -> str:
    """Label word, or the STS-B score rounded to 0.2 (`"3.8"`)."""
    if spec.kind == "regression":
        return f"{round(float(example.label) * 5) / 5:.1f}"
    return spec.labels[int(example.label)]


def encode_for_t5(
    spec: TaskSpec,
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    max_target_length: int = 16,
) -> dict[str, torch.Tensor]:
    """`input_ids`, `attention_mask`, `labels` (target ids, padding = -100), `example_index`."""
    if not examples:
        raise ValueError(f"{spec.name}: no examples to encode")
    if max_length <= 0 or max_target_length <= 0:
        raise ValueError(
            f"max_length={max_length} and max_target_length={max_target_length} must be positive"
        )
    inputs = tokenizer(
        [t5_input_text(spec, e) for e in examples],
        truncation=True,
        max_length=max_length,
        padding="longest",
        return_tensors="pt",
    )
    targets = tokenizer(
        [t5_target_text(spec, e) for e in examples],
        truncation=True,
        max_length=max_target_length,
        padding="longest",
        return_tensors="pt",
    )
    labels = targets["input_ids"].masked_fill(targets["attention_mask"] == 0, IGNORE_INDEX)
    return {
        "input_ids": inputs["input_ids"],
        "attention_mask": inputs["attention_mask"],
        "labels": labels,
        "example_index": torch.arange(len(examples)),
    }


def decode_t5_predictions(spec: TaskSpec, texts: Sequence[str]) -> list[int] | list[float]:
    """Generated texts -> class ids (unknown word -> -1) or STS-B scores clipped to [0, 5]."""
    if spec.kind == "regression":
        return [_score(text) for text in texts]
    words = [label.lower() for label in spec.labels]
    return [
        words.index(text.strip().lower()) if text.strip().lower() in words else INVALID_CLASS
        for text in texts
    ]


def _score(text: str) -> float:
    try:
        return min(max(float(text.strip()), 0.0), 5.0)
    except ValueError:
        return INVALID_SCORE


def _field_values(spec: TaskSpec, example: Example) -> dict[str, str]:
    if spec.kind == "choice":
        choice1, choice2 = example.choices
        return {
            "premise": example.text_a,
            "choice1": choice1,
            "choice2": choice2,
            "question": example.question or "",
        }
    if spec.kind == "multirc":
        return {
            "paragraph": example.text_a,
            "question": example.text_b or "",
            "answer": example.answer or "",
        }
    if example.word is not None:
        return {
            "word": example.word,
            "sentence1": example.text_a,
            "sentence2": example.text_b or "",
        }
    values = [example.text_a, example.text_b or ""]
    return dict(zip(spec.text_fields, values, strict=False))
