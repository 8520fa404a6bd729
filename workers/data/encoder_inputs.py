"""Turn examples into tensors for an encoder (BERT family) with a task head.

- Sentences and pairs: the tokenizer's own pair format (`[CLS] a [SEP] b [SEP]`).
- COPA: both alternatives are encoded as (premise, "because"/"so" + choice) and stacked as
  `[N, 2, L]`, so a choice head scores each alternative and a softmax over the two picks one.
- WiC: the target word is wrapped in `*` in both sentences (`... *class* ...`) and the
  word is put in front of the first sentence, so a sentence-level head can find it.
- MultiRC: one input per answer: (paragraph, question [SEP] answer).
Sequences are truncated longest-first to `max_length` and padded to the longest input;
`batches` trims each batch to its own longest input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from workers.data.examples import Example
from workers.data.tasks import TaskSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

COPA_CONNECTIVE = {"cause": "because", "effect": "so"}


def encode_for_encoder(
    spec: TaskSpec,
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
) -> dict[str, torch.Tensor]:
    """Tokenised inputs plus `labels` (float for regression) and `example_index`."""
    if not examples:
        raise ValueError(f"{spec.name}: no examples to encode")
    if spec.kind == "choice":
        firsts, seconds = [], []
        for example in examples:
            for choice in example.choices:
                firsts.append(example.text_a)
                seconds.append(copa_continuation(example, choice))
        encoded = _tokenize(tokenizer, firsts, seconds, max_length)
        encoded = {
            k: v.view(len(examples), len(examples[0].choices), -1) for k, v in encoded.items()
        }
    else:
        pairs = [_encoder_texts(example, tokenizer) for example in examples]
        firsts = [first for first, _ in pairs]
        second_texts = [second for _, second in pairs]
        has_pair = all(text is not None for text in second_texts)
        encoded = _tokenize(
            tokenizer, firsts, [str(t) for t in second_texts] if has_pair else None, max_length
        )
    dtype = torch.float32 if spec.kind == "regression" else torch.long
    encoded["labels"] = torch.tensor([example.label for example in examples], dtype=dtype)
    encoded["example_index"] = torch.arange(len(examples))
    return encoded


def copa_continuation(example: Example, choice: str) -> str:
    """'because'/'so' + the alternative, first letter lowered to read as one sentence."""
    connective = COPA_CONNECTIVE[example.question or "effect"]
    return f"{connective} {choice[:1].lower()}{choice[1:]}"


def mark_span(sentence: str, span: tuple[int, int]) -> str:
    """Wrap the target word of WiC in asterisks: 'a *class* act'."""
    start, end = span
    return f"{sentence[:start]}*{sentence[start:end]}*{sentence[end:]}"


def _encoder_texts(example: Example, tokenizer: PreTrainedTokenizerBase) -> tuple[str, str | None]:
    if example.spans is not None and example.text_b is not None:
        first = f"{example.word} : {mark_span(example.text_a, example.spans[0])}"
        return first, mark_span(example.text_b, example.spans[1])
    if example.answer is not None:
        separator = tokenizer.sep_token or "|"
        return example.text_a, f"{example.text_b} {separator} {example.answer}"
    return example.text_a, example.text_b


def _tokenize(
    tokenizer: PreTrainedTokenizerBase,
    firsts: list[str],
    seconds: list[str] | None,
    max_length: int,
) -> dict[str, torch.Tensor]:
    if max_length <= 0:
        raise ValueError(f"max_length={max_length} must be positive, e.g. 128")
    backend = _backend(tokenizer, max_length)
    if backend is not None:
        return _tokenize_backend(tokenizer, backend, firsts, seconds)
    batch = tokenizer(
        firsts,
        seconds,
        truncation="longest_first",
        max_length=max_length,
        padding="longest",
        return_tensors="pt",
    )
    return {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}


_BACKENDS: dict[tuple[int, int], tuple[Any, Any]] = {}


def _backend(tokenizer: Any, max_length: int) -> Any:
    """A private copy of a fast tokenizer's Rust backend, truncating and padding exactly as
    ``tokenizer(..., truncation="longest_first", padding="longest")`` does. Calling it
    directly skips transformers' per-row Python conversion: 2/3 of the time of encoding
    SST-2's 66k training sentences. ``None`` for a slow (Python) tokenizer."""
    source = getattr(tokenizer, "backend_tokenizer", None)
    if source is None or tokenizer.pad_token_id is None:
        return None
    found = _BACKENDS.get((id(tokenizer), max_length))
    if found is not None and found[0] is tokenizer:
        return found[1]
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(source.to_str())
    backend.enable_truncation(
        max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side
    )
    backend.enable_padding(
        direction=tokenizer.padding_side,
        pad_id=tokenizer.pad_token_id,
        pad_type_id=tokenizer.pad_token_type_id,
        pad_token=tokenizer.pad_token,
    )
    _BACKENDS[(id(tokenizer), max_length)] = (tokenizer, backend)
    return backend


def _tokenize_backend(
    tokenizer: Any, backend: Any, firsts: list[str], seconds: list[str] | None
) -> dict[str, torch.Tensor]:
    inputs = firsts if seconds is None else list(zip(firsts, seconds, strict=True))
    encodings = backend.encode_batch(inputs, add_special_tokens=True)
    fields = {
        "input_ids": "ids",
        "token_type_ids": "type_ids",
        "attention_mask": "attention_mask",
    }
    return {
        name: torch.from_numpy(
            np.array([getattr(e, fields[name]) for e in encodings], dtype=np.int64)
        )
        for name in tokenizer.model_input_names
        if name in fields
    }
