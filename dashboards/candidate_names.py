"""Where a candidate sits in the backbone, read from its name alone.

``probabilities.json`` only holds candidate names (``"<path>:<kind>"``), yet the
heatmaps need (stack, layer, role). These rules cover the BERT family (BERT, RoBERTa,
MiniLM, with or without a ``bert.``/``roberta.`` prefix) and T5, using the role names
of `search_space.positions` plus ``cross_*`` for T5's decoder cross-attention.
Layer -1 marks the embedding norm and the final norms (outside any layer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLE_ORDER = (
    "emb_norm",
    "q",
    "k",
    "v",
    "o",
    "attn_norm",
    "attn_block",
    "cross_q",
    "cross_k",
    "cross_v",
    "cross_o",
    "cross_norm",
    "cross_block",
    "ffn_in",
    "ffn_in_gate",
    "ffn_out",
    "ffn_norm",
    "ffn_block",
    "final_norm",
)
KIND_ORDER = ("lora", "bitfit", "lnfit", "lra", "adapter")

_BERT_SUFFIX = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "o",
    "attention.output.LayerNorm": "attn_norm",
    "attention": "attn_block",
    "attention.output": "attn_block",
    "intermediate.dense": "ffn_in",
    "output.dense": "ffn_out",
    "output.LayerNorm": "ffn_norm",
    "output": "ffn_block",
}
_BERT_LAYER = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.(.+)$")
_BERT_EMB_NORM = re.compile(r"(?:^|\.)embeddings\.LayerNorm$")

_T5_BLOCK = re.compile(r"^(?:.*\.)?(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)(?:\.(.+))?$")
_T5_FINAL = re.compile(r"^(?:.*\.)?(encoder|decoder)\.final_layer_norm$")
_T5_PROJ = {"q": "q", "k": "k", "v": "v", "o": "o"}
_T5_FFN = {"wi": "ffn_in", "wi_0": "ffn_in", "wi_1": "ffn_in_gate", "wo": "ffn_out"}


class CandidateNameError(ValueError):
    """A candidate name or module path that no rule here understands."""


@dataclass(frozen=True)
class Position:
    """Where a delta module sits: stack ("encoder"/"decoder"), layer (-1 outside layers), role."""

    stack: str
    layer: int
    role: str


def split_name(name: str) -> tuple[str, str | None]:
    """``"path:kind"`` -> (path, kind); a bare path gives kind None."""
    path, sep, kind = name.rpartition(":")
    return (path, kind) if sep else (name, None)


def _t5_sublayer_role(stack: str, index: int, rest: str | None) -> str:
    """Role of something inside T5's ``layer.<index>`` of one block."""
    # Encoder blocks: 0 self-attention, 1 FFN. Decoder: 0 self, 1 cross, 2 FFN.
    kinds = ("attn", "ffn") if stack == "encoder" else ("attn", "cross", "ffn")
    if index >= len(kinds):
        raise CandidateNameError(f"T5 {stack} blocks have no layer.{index}")
    part = kinds[index]
    if rest is None or rest in ("SelfAttention", "EncDecAttention", "DenseReluDense"):
        return f"{part}_block"
    if rest == "layer_norm":
        return f"{part}_norm"
    module, _, leaf = rest.partition(".")
    if module == "SelfAttention" and leaf in _T5_PROJ:
        return _T5_PROJ[leaf]
    if module == "EncDecAttention" and leaf in _T5_PROJ:
        return "cross_" + _T5_PROJ[leaf]
    if module == "DenseReluDense" and leaf in _T5_FFN:
        return _T5_FFN[leaf]
    raise CandidateNameError(f"unknown T5 sub-module {rest!r}")


def parse_position(name: str) -> Position:
    """(stack, layer, role) of a candidate name ``"<path>:<kind>"`` or a module path.

    Raises `CandidateNameError` naming the path when no BERT-family or T5 rule fits.
    """
    path, _kind = split_name(name)
    try:
        if _BERT_EMB_NORM.search(path):
            return Position("encoder", -1, "emb_norm")
        match = _BERT_LAYER.search(path)
        if match and match.group(2) in _BERT_SUFFIX:
            return Position("encoder", int(match.group(1)), _BERT_SUFFIX[match.group(2)])
        match = _T5_FINAL.match(path)
        if match:
            return Position(match.group(1), -1, "final_norm")
        match = _T5_BLOCK.match(path)
        if match:
            stack, block, sub, rest = match.groups()
            return Position(stack, int(block), _t5_sublayer_role(stack, int(sub), rest))
    except CandidateNameError as err:
        raise CandidateNameError(f"candidate {name!r}: {err}") from None
    raise CandidateNameError(
        f"candidate {name!r}: path {path!r} matches no BERT-family "
        "(encoder.layer.N.attention.self.query, embeddings.LayerNorm, ...) or T5 "
        "(encoder.block.N.layer.M.SelfAttention.q, decoder.final_layer_norm, ...) rule"
    )


def role_sort_key(role: str) -> int:
    """Order roles as they occur in a layer; unknown roles go last."""
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def kind_sort_key(kind: str) -> int:
    """Order kinds lora, bitfit, lnfit, lra, adapter; unknown kinds go last."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
