"""Delta module kinds, one file each, dispatched through one registry (`registry.py`).

A new kind is one file (a `DeltaKind` and its module) plus one `register_kind` line below;
nothing else in s3delta names kinds.
"""

from __future__ import annotations

from search_space.deltas.adapter import ADAPTER, AdapterDelta, AdapterOptions
from search_space.deltas.base import Delta, GateSlot, Site
from search_space.deltas.bitfit import BITFIT, BitFitDelta
from search_space.deltas.lnfit import LNFIT, LNFitDelta
from search_space.deltas.lora import LORA, LoRADelta, LoRAOptions
from search_space.deltas.lra import LRA, LRADelta
from search_space.deltas.prefix import PREFIX, PrefixDelta
from search_space.deltas.registry import (
    SITE_TYPES,
    BuildContext,
    DeltaKind,
    KindOptions,
    NoOptions,
    PeftPlacement,
    delta_size,
    find_kind,
    get_kind,
    kind_names,
    kinds,
    make_delta,
    register_kind,
    space_kinds,
    space_names,
    unregister_kind,
)

# the registry, in the order the dashboards draw kinds (spaces order a site's kinds by
# each kind's site_priority, then by this order)
register_kind(LORA)
register_kind(BITFIT)
register_kind(LNFIT)
register_kind(LRA)
register_kind(ADAPTER)
register_kind(PREFIX)  # the subspace experiment's third DET; in no search space


def kind_sites() -> dict[str, tuple[str, ...]]:
    """Kind name -> the site types it may sit on."""
    return {k.name: k.sites for k in kinds()}


__all__ = [
    "SITE_TYPES",
    "AdapterDelta",
    "AdapterOptions",
    "BitFitDelta",
    "BuildContext",
    "Delta",
    "DeltaKind",
    "GateSlot",
    "KindOptions",
    "LNFitDelta",
    "LRADelta",
    "LoRADelta",
    "LoRAOptions",
    "NoOptions",
    "PeftPlacement",
    "PrefixDelta",
    "Site",
    "delta_size",
    "find_kind",
    "get_kind",
    "kind_names",
    "kind_sites",
    "kinds",
    "make_delta",
    "register_kind",
    "space_kinds",
    "space_names",
    "unregister_kind",
]
