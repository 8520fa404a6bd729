"""Issue 9: encoding through the fast tokenizer's Rust backend gives exactly the tensors of
transformers' ``tokenizer(...)`` call, and row selection gives the batches of encoding
just those rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from workers.data import Example, batches, encode_for_encoder, encoder_inputs, get_task, load_local
from workers.data.batching import select_rows

FIXTURES = Path(__file__).parents[2] / "fixtures" / "glue_superglue"


def _both(spec: Any, examples: list[Example], tok: Any, length: int, monkeypatch) -> tuple:
    fast = encode_for_encoder(spec, examples, tok, length)
    with monkeypatch.context() as m:
        m.setattr(encoder_inputs, "_backend", lambda *a: None)  # transformers' own path
        slow = encode_for_encoder(spec, examples, tok, length)
    return fast, slow


@pytest.mark.parametrize(
    ("task", "data", "length"),
    [
        ("glue/sst2", "shared", 128),
        ("glue/sst2", "shared", 6),  # truncation of single sentences
        ("glue/rte", "shared", 40),  # longest-first truncation of pairs
        ("glue/stsb", "shared", 128),
        ("superglue/copa", "fixtures", 16),  # [N, 2, L] choices
        ("superglue/cb", "fixtures", 32),
        ("glue/mrpc", "fixtures", 64),
    ],
)
def test_backend_encoding_equals_transformers_call(
    task, data, length, shared_data: Path, minilm_tokenizer: Any, monkeypatch
) -> None:
    spec = get_task(task)
    root = shared_data if data == "shared" else FIXTURES
    loaded = load_local(spec.name, root)
    examples = (loaded.train or loaded.validation)[:300]
    fast, slow = _both(spec, examples, minilm_tokenizer, length, monkeypatch)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key].dtype == slow[key].dtype, key
        assert torch.equal(fast[key], slow[key]), key
    assert encoder_inputs._backend(minilm_tokenizer, length) is not None  # the fast path ran


def test_selected_rows_batch_like_their_own_encoding(shared_data: Path, minilm_tokenizer: Any):
    spec = get_task("glue/rte")
    examples = load_local(spec.name, shared_data).validation[:64]
    full = encode_for_encoder(spec, examples, minilm_tokenizer, 128)
    rows = list(range(1, 64, 3))
    own = encode_for_encoder(spec, [examples[i] for i in rows], minilm_tokenizer, 128)
    picked = select_rows(full, rows)
    assert picked["example_index"].tolist() == list(range(len(rows)))
    for a, b in zip(batches(picked, 5, seed=7), batches(own, 5, seed=7), strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
