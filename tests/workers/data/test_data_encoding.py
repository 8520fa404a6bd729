"""Encoding for encoders (real MiniLM tokenizer) and text-to-text, and batching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from workers.data import (
    Example,
    batches,
    decode_t5_predictions,
    encode_for_encoder,
    encode_for_t5,
    get_task,
    load_local,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "glue_superglue"


def test_pairs_are_encoded_as_token_pairs(shared_data: Path, minilm_tokenizer: Any) -> None:
    spec = get_task("glue/rte")
    examples = load_local(spec.name, shared_data).validation[:8]
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=64)
    assert encoded["input_ids"].shape[0] == 8 and encoded["input_ids"].shape[1] <= 64
    assert encoded["token_type_ids"].max() == 1  # second segment present
    assert encoded["labels"].dtype == torch.long
    assert encoded["labels"].tolist() == [e.label for e in examples]


def test_regression_labels_are_float(shared_data: Path, minilm_tokenizer: Any) -> None:
    spec = get_task("glue/stsb")
    examples = load_local(spec.name, shared_data).validation[:4]
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=32)
    assert encoded["labels"].dtype == torch.float32
    assert encoded["labels"].tolist() == pytest.approx([5.0, 4.75, 5.0, 2.4])


def test_copa_encodes_both_choices_with_connectives(minilm_tokenizer: Any) -> None:
    spec = get_task("superglue/copa")
    examples = load_local(spec.name, FIXTURES).validation
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=48)
    n, choices, length = encoded["input_ids"].shape
    assert (n, choices) == (4, 2) and encoded["attention_mask"].shape == (4, 2, length)
    faucet = minilm_tokenizer.decode(encoded["input_ids"][0, 1], skip_special_tokens=True)
    assert faucet == "the man turned on the faucet. so water flowed from the spout."
    assert encoded["labels"].tolist() == [1, 1, 0, 1]
    first = next(batches(encoded, 3))
    assert first["input_ids"].shape[:2] == (3, 2) and first["labels"].shape == (3,)


def test_wic_marks_the_target_word_in_both_sentences(
    shared_data: Path, minilm_tokenizer: Any
) -> None:
    spec = get_task("superglue/wic")
    examples = load_local(spec.name, shared_data).validation[:2]
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=96)
    text = minilm_tokenizer.decode(encoded["input_ids"][0], skip_special_tokens=True)
    assert text.startswith("class : an emerging professional * class *.")
    assert text.endswith("showed real * class *.")


def test_multirc_truncates_the_paragraph_not_question_or_answer(
    shared_data: Path, minilm_tokenizer: Any
) -> None:
    spec = get_task("superglue/multirc")
    examples = load_local(spec.name, shared_data).validation[:3]
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=64)
    assert encoded["input_ids"].shape == (3, 64)
    text = minilm_tokenizer.decode(encoded["input_ids"][0])
    assert text.endswith("to pick it up? [SEP] no [SEP]")


def test_t5_inputs_targets_and_decoding_round_trip(t5_like_tokenizer: Any) -> None:
    spec = get_task("glue/rte")
    examples = [
        Example(idx=0, text_a="The cat sat.", text_b="A cat sat.", label=0),
        Example(idx=1, text_a="It rained.", text_b="It was dry.", label=1),
    ]
    encoded = encode_for_t5(spec, examples, t5_like_tokenizer, max_length=32)
    source = t5_like_tokenizer.decode(encoded["input_ids"][0], skip_special_tokens=True)
    assert source == "rte sentence1: The cat sat. sentence2: A cat sat."
    labels = encoded["labels"]
    assert labels[0, -1].item() == -100  # "entailment" is shorter: padded with -100
    targets = [
        t5_like_tokenizer.decode([t for t in row if t != -100], skip_special_tokens=True)
        for row in labels.tolist()
    ]
    assert targets == ["entailment", "not_entailment"]
    assert decode_t5_predictions(spec, [*targets, "maybe"]) == [0, 1, -1]


def test_t5_stsb_targets_round_to_a_fifth(minilm_tokenizer: Any) -> None:
    spec = get_task("glue/stsb")
    examples = [Example(idx=i, text_a="a", text_b="b", label=s) for i, s in enumerate([3.75, 1.0])]
    encoded = encode_for_t5(spec, examples, minilm_tokenizer, max_length=16)
    targets = minilm_tokenizer.batch_decode(
        encoded["labels"].clamp(min=0), skip_special_tokens=True
    )
    assert targets == ["3. 8", "1. 0"]  # BERT word pieces split "3.8" around the dot
    assert decode_t5_predictions(spec, ["3.8", " 7", "high"]) == [3.8, 5.0, -1.0]


def test_t5_copa_and_multirc_inputs(t5_like_tokenizer: Any) -> None:
    copa = load_local("superglue/copa", FIXTURES).validation[:1]
    encoded = encode_for_t5(get_task("superglue/copa"), copa, t5_like_tokenizer, max_length=512)
    assert t5_like_tokenizer.decode(encoded["input_ids"][0], skip_special_tokens=True) == (
        "copa premise: The man turned on the faucet. choice1: The toilet filled with water. "
        "choice2: Water flowed from the spout. question: effect"
    )
    answer = Example(
        idx=0, text_a="Sam walked home.", text_b="Who?", answer="Sam", label=1, group=0
    )
    encoded = encode_for_t5(get_task("superglue/multirc"), [answer], t5_like_tokenizer, 512)
    assert t5_like_tokenizer.decode(encoded["input_ids"][0], skip_special_tokens=True) == (
        "multirc question: Who? answer: Sam paragraph: Sam walked home."
    )


def test_batches_are_seeded_complete_and_trimmed(shared_data: Path, minilm_tokenizer: Any) -> None:
    spec = get_task("glue/rte")
    examples = load_local(spec.name, shared_data).validation[:20]
    encoded = encode_for_encoder(spec, examples, minilm_tokenizer, max_length=128)

    def order(seed: int | None) -> list[int]:
        return [i for b in batches(encoded, 6, seed) for i in b["example_index"].tolist()]

    assert order(7) == order(7) and sorted(order(7)) == list(range(20))
    assert order(7) != order(8)
    assert order(None) == list(range(20))
    for batch in batches(encoded, 6, seed=7):
        width = batch["input_ids"].shape[1]
        assert batch["attention_mask"][:, -1].any()  # no all-padding column left
        assert width == int(batch["attention_mask"].sum(dim=1).max())
        rows = batch["example_index"]
        assert torch.equal(batch["labels"], encoded["labels"][rows])
    with pytest.raises(ValueError, match="batch_size=0 must be positive"):
        next(batches(encoded, 0))
