"""Applying a `Structure` to a fresh backbone: exactly its modules, un-gated, backbone frozen."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from search_space.delta_set import DeltaSet, DeltaSpec
from search_space.deltas import KIND_SITES
from search_space.positions import Candidate, find_sites
from search_space.structure import Structure, StructureEntry


class StructureMismatchError(ValueError):
    """A structure that names positions this backbone does not have."""


def structure_specs(model: nn.Module, structure: Structure) -> list[DeltaSpec]:
    """Resolve each entry to a site of ``model``; unknown paths are a clear error."""
    sites = {s.path: s for s in find_sites(model)}
    specs = []
    for entry in structure.entries:
        site = sites.get(entry.path)
        if site is None:
            raise StructureMismatchError(
                f"structure entry {entry.name!r} names a position this backbone does not have "
                f"(the structure was made for {structure.backbone!r}); use a structure searched "
                "on this backbone"
            )
        if site.site_type not in KIND_SITES.get(entry.kind, ()):
            raise StructureMismatchError(
                f"structure entry {entry.name!r}: kind {entry.kind!r} cannot sit on a {site.site_type}"
            )
        specs.append(DeltaSpec(site, entry.kind, entry.rank, entry.width or 24))
    return specs


def freeze(model: nn.Module) -> None:
    """Make every backbone parameter non-trainable."""
    for p in model.parameters():
        p.requires_grad_(False)


def apply_structure(model: nn.Module, structure: Structure, lora_scale: float = 1.0) -> DeltaSet:
    """Freeze ``model`` and hook on freshly initialised deltas for every entry, un-gated."""
    specs = structure_specs(model, structure)
    freeze(model)
    return DeltaSet(model, specs, slot=None, lora_scale=lora_scale)


def structure_from_candidates(
    chosen: Sequence[Candidate],
    backbone: str,
    backbone_params: int,
    budget: int | None,
    space: str = "M",
    meta: dict[str, object] | None = None,
) -> Structure:
    """Wrap a list of chosen candidates as a `Structure`."""
    return Structure(
        entries=tuple(StructureEntry.from_candidate(c) for c in chosen),
        backbone=backbone,
        backbone_params=backbone_params,
        budget=budget,
        space=space,
        meta=dict(meta or {}),
    )
