"""Candidate names and module paths -> (stack, layer, role), for BERT-family and T5 backbones."""

from __future__ import annotations

import pytest

from dashboards.candidate_names import CandidateNameError, Position, parse_position, split_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("encoder.layer.3.attention.self.query:lora", Position("encoder", 3, "q")),
        ("encoder.layer.0.attention.self.value:bitfit", Position("encoder", 0, "v")),
        ("encoder.layer.3.attention.output.dense:lora", Position("encoder", 3, "o")),
        ("encoder.layer.3.attention.output.LayerNorm:lnfit", Position("encoder", 3, "attn_norm")),
        ("encoder.layer.3.attention:lra", Position("encoder", 3, "attn_block")),
        ("encoder.layer.11.intermediate.dense:lora", Position("encoder", 11, "ffn_in")),
        ("encoder.layer.3.output.dense:bitfit", Position("encoder", 3, "ffn_out")),
        ("encoder.layer.3.output.LayerNorm:bitfit", Position("encoder", 3, "ffn_norm")),
        ("encoder.layer.3.output:lra", Position("encoder", 3, "ffn_block")),
        ("embeddings.LayerNorm:lnfit", Position("encoder", -1, "emb_norm")),
        ("roberta.encoder.layer.2.attention.self.key:lora", Position("encoder", 2, "k")),
        ("bert.embeddings.LayerNorm", Position("encoder", -1, "emb_norm")),
        ("encoder.block.2.layer.0.SelfAttention.q:lora", Position("encoder", 2, "q")),
        ("encoder.block.2.layer.0.layer_norm:lnfit", Position("encoder", 2, "attn_norm")),
        ("encoder.block.2.layer.1.DenseReluDense.wi:lora", Position("encoder", 2, "ffn_in")),
        ("encoder.block.2.layer.1.layer_norm:bitfit", Position("encoder", 2, "ffn_norm")),
        ("encoder.block.2.layer.1:lra", Position("encoder", 2, "ffn_block")),
        ("decoder.block.1.layer.0.layer_norm:lnfit", Position("decoder", 1, "attn_norm")),
        ("decoder.block.1.layer.1.layer_norm:lnfit", Position("decoder", 1, "cross_norm")),
        ("decoder.block.1.layer.2.DenseReluDense.wo:bitfit", Position("decoder", 1, "ffn_out")),
        ("decoder.block.1.layer.2.DenseReluDense.wi_1:lora", Position("decoder", 1, "ffn_in_gate")),
        ("decoder.block.1.layer.2:lra", Position("decoder", 1, "ffn_block")),
        ("decoder.block.1.layer.0:lra", Position("decoder", 1, "attn_block")),
        ("encoder.final_layer_norm:lnfit", Position("encoder", -1, "final_norm")),
        ("decoder.final_layer_norm:bitfit", Position("decoder", -1, "final_norm")),
    ],
)
def test_known_paths(name: str, expected: Position) -> None:
    assert parse_position(name) == expected


def test_split_name() -> None:
    assert split_name("encoder.layer.3.output:lra") == ("encoder.layer.3.output", "lra")
    assert split_name("encoder.layer.3.output") == ("encoder.layer.3.output", None)


@pytest.mark.parametrize(
    "name",
    [
        "classifier.dense:lora",
        "encoder.layer.3.attention.self.rotary:lora",
        "encoder.block.2.layer.2.layer_norm:lnfit",  # T5 encoder blocks have layer.0/1 only
        "decoder.block.1.layer.0.SelfAttention.z:lora",
        # T5's cross-attention projections are no candidate site (search_space/families.py),
        # so no run's names hold one
        "decoder.block.1.layer.1.EncDecAttention.k",
    ],
)
def test_unknown_paths_are_named(name: str) -> None:
    with pytest.raises(CandidateNameError, match=f"candidate '{name}'"):
        parse_position(name)
