"""Candidate positions and exact sizes on the real MiniLM and on T5 shapes."""

from __future__ import annotations

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from search_space import UnsupportedModelError, backbone_params, find_candidates, find_sites


def test_minilm_space_m_counts(minilm):
    model, _ = minilm
    cands = find_candidates(model, "M")
    assert len(cands) == 110
    assert sum(c.size for c in cands) == 86_448
    assert "encoder.layer.3.attention.self.query:lora" in {c.name for c in cands}
    assert "embeddings.LayerNorm:lnfit" in {c.name for c in cands}
    assert "encoder.layer.5.output:lra" in {c.name for c in cands}


def test_minilm_space_l_counts(minilm):
    model, _ = minilm
    cands = find_candidates(model, "L")
    assert len(cands) == 36
    assert sum(c.size for c in cands) == 41_472
    assert {c.kind for c in cands} == {"lora"}


def test_minilm_backbone_params(minilm):
    assert backbone_params(minilm[0]) == 22_713_216


def test_sizes_per_kind(minilm):
    by_name = {c.name: c.size for c in find_candidates(minilm[0], "M")}
    assert by_name["encoder.layer.0.attention.self.query:lora"] == 384 + 384
    assert by_name["encoder.layer.0.intermediate.dense:lora"] == 384 + 1536
    assert by_name["encoder.layer.0.intermediate.dense:bitfit"] == 1536
    assert by_name["encoder.layer.0.attention.output.LayerNorm:lnfit"] == 384
    assert by_name["encoder.layer.0.attention:lra"] == (384 + 24) + (12 + 768)


def test_t5_positions_on_tiny_t5(tiny_t5_dir):
    model = T5ForConditionalGeneration.from_pretrained(tiny_t5_dir)
    sites = find_sites(model)
    paths = {s.path for s in sites}
    assert "encoder.block.0.layer.0.SelfAttention.q" in paths
    assert "decoder.block.1.layer.2.DenseReluDense.wo" in paths
    assert "decoder.block.1.layer.1.layer_norm" in paths  # cross-attention norm is a candidate
    assert "decoder.final_layer_norm" in paths
    assert not any("EncDecAttention" in p for p in paths)  # cross-attn projections are not
    dec = [s for s in sites if s.stack == "decoder"]
    assert dec and all(s.path.startswith("decoder.") for s in dec)
    cands = find_candidates(model, "M")
    # per encoder block 18, per decoder block 20, plus 2 final norms x 2 kinds
    assert len(cands) == 2 * 18 + 2 * 20 + 4


def test_t5_large_space_m_has_916_candidates():
    config = T5Config(d_model=1024, d_ff=4096, num_layers=24, num_heads=16, d_kv=64)
    with torch.device("meta"):
        model = T5ForConditionalGeneration(config)
    assert len(find_candidates(model, "M")) == 916


def test_unsupported_architecture_names_families():
    from transformers import GPT2Config, GPT2Model

    model = GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(UnsupportedModelError, match=r"'gpt2' has no family rules.*bert.*t5"):
        find_candidates(model)


def test_unknown_space():
    with pytest.raises(ValueError, match="unknown space 'X'"):
        find_candidates(torch.nn.Linear(2, 2), "X")
