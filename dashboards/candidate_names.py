"""Where a candidate sits in the backbone, read from its name alone.

``probabilities.json`` only holds candidate names (``"<path>:<kind>"``), yet the
heatmaps need (stack, layer, role). The place of a path comes from the family rules
that find the candidates (`search_space.families.place_of`), so the figures and the
search can never disagree (a trial also writes each candidate's place, kind and size to
``candidates.json`` next to ``probabilities.json``). Kinds are ordered as the delta
registry lists them. Layer -1 marks the embedding norm and the final norms.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_space.deltas import kind_names
from search_space.families import place_of

ROLE_ORDER = (
    "emb_norm",
    "q",
    "k",
    "v",
    "o",
    "attn_norm",
    "attn_block",
    "cross_norm",
    "ffn_in",
    "ffn_in_gate",
    "ffn_out",
    "ffn_norm",
    "ffn_block",
    "final_norm",
)


class CandidateNameError(ValueError):
    """A candidate name or module path that no family rule places."""


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


def parse_position(name: str) -> Position:
    """(stack, layer, role) of a candidate name ``"<path>:<kind>"`` or a module path.

    Raises `CandidateNameError` naming the path when no family rule places it.
    """
    path, _kind = split_name(name)
    place = place_of(path)
    if place is None:
        raise CandidateNameError(
            f"candidate {name!r}: path {path!r} matches no BERT-family "
            "(encoder.layer.N.attention.self.query, embeddings.LayerNorm, ...) or T5 "
            "(encoder.block.N.layer.M.SelfAttention.q, decoder.final_layer_norm, ...) rule "
            "of search_space/families.py"
        )
    return Position(place.stack, place.layer, place.role)


def role_sort_key(role: str) -> int:
    """Order roles as they occur in a layer; unknown roles go last."""
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def kind_sort_key(kind: str) -> int:
    """Order kinds as the delta registry lists them; unknown kinds go last."""
    order = kind_names()
    return order.index(kind) if kind in order else len(order)
