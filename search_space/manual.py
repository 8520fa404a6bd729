"""Hand-placed baseline structures (spec section 5), each at its own natural size."""

from __future__ import annotations

from torch import nn

from search_space.deltas import Site, delta_size
from search_space.positions import backbone_params, find_sites
from search_space.structure import Structure, StructureEntry

MANUAL_NAMES = ("lora-qv-r8", "lora-qv-r1", "adapter", "bitfit", "lnfit", "lra-all")


def _entry(site: Site, kind: str, rank: int = 1, width: int = 0) -> StructureEntry:
    size = delta_size(kind, site, rank=rank, adapter_width=width or 24)
    return StructureEntry(site.path, kind, size, rank, width, site.layer, site.role, site.stack)


def manual_structure(
    name: str, model: nn.Module, backbone: str, adapter_width: int = 24
) -> Structure:
    """The named baseline on ``model``: LoRA on q,v (r=8 or 1), adapters after attention and
    FFN blocks, BitFit on every Linear and norm, LNFit on every norm, LRA after every block."""
    sites = find_sites(model)
    if name in ("lora-qv-r8", "lora-qv-r1"):
        rank = 8 if name.endswith("r8") else 1
        entries = [
            _entry(s, "lora", rank)
            for s in sites
            if s.site_type == "linear" and s.role in ("q", "v")
        ]
    elif name == "adapter":
        entries = [
            _entry(s, "adapter", width=adapter_width) for s in sites if s.site_type == "block"
        ]
    elif name == "bitfit":
        entries = [_entry(s, "bitfit") for s in sites if s.site_type in ("linear", "norm")]
    elif name == "lnfit":
        entries = [_entry(s, "lnfit") for s in sites if s.site_type == "norm"]
    elif name == "lra-all":
        entries = [_entry(s, "lra") for s in sites if s.site_type == "block"]
    else:
        raise ValueError(f"unknown manual baseline {name!r}: use one of {', '.join(MANUAL_NAMES)}")
    return Structure(
        entries=tuple(entries),
        backbone=backbone,
        backbone_params=backbone_params(model),
        budget=None,
        space="manual",
        meta={"manual": name},
    )
