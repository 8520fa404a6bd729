"""Family rules: which modules of a backbone are candidate sites, found from the module tree.

Each family is a list of (regex over the full module path, site type, role, stack).
Rules match path suffixes, so a backbone wrapped in a task model (``bert.encoder...``)
is found the same way as a bare one. `place_of` reads a module path (or a candidate
name ``<path>:<kind>``) with these rules; it is the one place that knows where a path
sits, for the candidate search and for the dashboards alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class UnsupportedModelError(ValueError):
    """A backbone whose architecture no family rule covers."""


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    site_type: str  # linear | norm | block
    role: str  # fixed role, or "" to take it from the `role` group via ROLE_MAP


def _r(pattern: str, site_type: str, role: str = "") -> Rule:
    return Rule(re.compile(r"(?:^|.*\.)" + pattern + r"$"), site_type, role)


ROLE_MAP = {
    "query": "q",
    "key": "k",
    "value": "v",
    "q": "q",
    "k": "k",
    "v": "v",
    "o": "o",
    "wi": "ffn_in",
    "wi_0": "ffn_in",
    "wi_1": "ffn_in_gate",
    "wo": "ffn_out",
}

BERT_RULES: tuple[Rule, ...] = (
    _r(r"embeddings\.LayerNorm", "norm", "emb_norm"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.attention\.self\.(?P<role>query|key|value)", "linear"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.attention\.output\.dense", "linear", "o"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.attention\.output\.LayerNorm", "norm", "attn_norm"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.attention", "block", "attn_block"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.intermediate\.dense", "linear", "ffn_in"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.output\.dense", "linear", "ffn_out"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.output\.LayerNorm", "norm", "ffn_norm"),
    _r(r"encoder\.layer\.(?P<layer>\d+)\.output", "block", "ffn_block"),
)

# T5: self-attention and FFN projections of every block; cross-attention projections
# are not candidates in the reference space (spec section 1), its layer_norm is.
T5_RULES: tuple[Rule, ...] = (
    _r(
        r"(?P<stack>encoder|decoder)\.block\.(?P<layer>\d+)\.layer\.0\.SelfAttention\.(?P<role>q|k|v|o)",
        "linear",
    ),
    _r(
        r"(?P<stack>encoder|decoder)\.block\.(?P<layer>\d+)\.layer\.0\.layer_norm",
        "norm",
        "attn_norm",
    ),
    _r(r"(?P<stack>encoder|decoder)\.block\.(?P<layer>\d+)\.layer\.0", "block", "attn_block"),
    _r(r"(?P<stack>decoder)\.block\.(?P<layer>\d+)\.layer\.1\.layer_norm", "norm", "cross_norm"),
    _r(
        r"(?P<stack>encoder|decoder)\.block\.(?P<layer>\d+)\.layer\.\d\.DenseReluDense\.(?P<role>wi|wi_0|wi_1|wo)",
        "linear",
    ),
    _r(r"(?P<stack>encoder)\.block\.(?P<layer>\d+)\.layer\.1\.layer_norm", "norm", "ffn_norm"),
    _r(r"(?P<stack>encoder)\.block\.(?P<layer>\d+)\.layer\.1", "block", "ffn_block"),
    _r(r"(?P<stack>decoder)\.block\.(?P<layer>\d+)\.layer\.2\.layer_norm", "norm", "ffn_norm"),
    _r(r"(?P<stack>decoder)\.block\.(?P<layer>\d+)\.layer\.2", "block", "ffn_block"),
    _r(r"(?P<stack>encoder|decoder)\.final_layer_norm", "norm", "final_norm"),
)

FAMILIES: dict[str, tuple[Rule, ...]] = {"bert": BERT_RULES, "t5": T5_RULES}
# config.model_type -> family
MODEL_TYPES: dict[str, str] = {
    "bert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "camembert": "bert",
    "t5": "t5",
    "mt5": "t5",
}


@dataclass(frozen=True)
class Place:
    """Where a module path sits: site type, role, layer (-1 outside layers) and stack."""

    site_type: str
    role: str
    layer: int
    stack: str


def place_of(path: str, family: str | None = None) -> Place | None:
    """The place of ``path`` by ``family``'s rules (every family's when None), first rule
    that matches; None when no rule does."""
    for name in (family,) if family is not None else tuple(FAMILIES):
        for rule in FAMILIES[name]:
            match = rule.pattern.match(path)
            if match is None:
                continue
            groups = match.groupdict()
            role = rule.role or ROLE_MAP[groups["role"]]
            layer = int(groups["layer"]) if groups.get("layer") is not None else -1
            return Place(rule.site_type, role, layer, groups.get("stack") or "encoder")
    return None


def family_of(model_type: str) -> str:
    """The family for a Hugging Face ``config.model_type``; an error names those that exist."""
    try:
        return MODEL_TYPES[model_type]
    except KeyError:
        known = ", ".join(f"{k} -> {v}" for k, v in sorted(MODEL_TYPES.items()))
        raise UnsupportedModelError(
            f"model type {model_type!r} has no family rules; supported model types: {known} "
            f"(families: {', '.join(FAMILIES)}). Add a rule set in search_space/families.py."
        ) from None
