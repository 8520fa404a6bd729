"""Hand-placed baseline structures (spec section 5), each at its own natural size."""

from __future__ import annotations

from torch import nn

from search_space.baselines import BASELINES, MANUAL_NAMES
from search_space.deltas import get_kind
from search_space.positions import backbone_params, entry_at, find_sites
from search_space.structure import Structure


def manual_structure(
    name: str, model: nn.Module, backbone: str, adapter_width: int | None = None
) -> Structure:
    """The named baseline on ``model``: LoRA on q,v (r=8 or 1), adapters after attention and
    FFN blocks, BitFit on every Linear and norm, LNFit on every norm, LRA after every block.
    ``adapter_width`` (a trial setting) overrides the adapter kind's default width."""
    if name not in BASELINES:
        raise ValueError(f"unknown manual baseline {name!r}: use one of {', '.join(MANUAL_NAMES)}")
    baseline = BASELINES[name]
    kind = get_kind(baseline.kind)
    values = dict(baseline.options)
    if baseline.kind == "adapter" and adapter_width is not None:
        values["width"] = adapter_width
    entries = [
        entry_at(s, kind.name, values)
        for s in find_sites(model)
        if s.site_type in kind.sites and (not baseline.roles or s.role in baseline.roles)
    ]
    return Structure(
        entries=tuple(entries),
        backbone=backbone,
        backbone_params=backbone_params(model),
        budget=None,
        space="manual",
        meta={"manual": name},
    )
