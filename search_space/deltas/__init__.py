"""Delta module kinds, one file each; `make_delta` builds one for a site."""

from __future__ import annotations

from search_space.deltas.adapter import AdapterDelta
from search_space.deltas.base import Delta, GateSlot, Site
from search_space.deltas.bitfit import BitFitDelta
from search_space.deltas.lnfit import LNFitDelta
from search_space.deltas.lora import LoRADelta
from search_space.deltas.lra import LRADelta

KINDS = ("lora", "bitfit", "lnfit", "lra", "adapter")
# which site types each kind may sit on (spec section 1)
KIND_SITES: dict[str, tuple[str, ...]] = {
    "lora": ("linear",),
    "bitfit": ("linear", "norm"),
    "lnfit": ("norm",),
    "lra": ("block",),
    "adapter": ("block",),
}


def delta_size(kind: str, site: Site, rank: int = 1, adapter_width: int = 24) -> int:
    """Exact trainable parameter count of ``kind`` at ``site``."""
    if kind == "lora":
        return LoRADelta.size_at(site, rank)
    if kind == "bitfit":
        return BitFitDelta.size_at(site)
    if kind == "lnfit":
        return LNFitDelta.size_at(site)
    if kind == "lra":
        return LRADelta.size_at(site)
    if kind == "adapter":
        return AdapterDelta.size_at(site, adapter_width)
    raise ValueError(f"unknown delta kind {kind!r}: use one of {', '.join(KINDS)}")


def make_delta(
    kind: str,
    site: Site,
    rank: int = 1,
    lora_scale: float = 1.0,
    adapter_width: int = 24,
    norm_eps: float = 1e-12,
) -> Delta:
    """A freshly initialised delta of ``kind`` for ``site``."""
    if site.site_type not in KIND_SITES.get(kind, ()):
        raise ValueError(f"delta kind {kind!r} cannot sit on a {site.site_type} ({site.path})")
    if kind == "lora":
        return LoRADelta(site.in_features, site.out_features, rank, lora_scale)
    if kind == "bitfit":
        return BitFitDelta(site.out_features)
    if kind == "lnfit":
        return LNFitDelta(site.out_features, site.norm_kind, norm_eps)
    if kind == "lra":
        return LRADelta(site.out_features)
    return AdapterDelta(site.out_features, adapter_width)


__all__ = [
    "KINDS",
    "KIND_SITES",
    "AdapterDelta",
    "BitFitDelta",
    "Delta",
    "GateSlot",
    "LNFitDelta",
    "LRADelta",
    "LoRADelta",
    "Site",
    "delta_size",
    "make_delta",
]
