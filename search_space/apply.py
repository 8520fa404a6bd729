"""Applying a `Structure` to a fresh backbone: exactly its modules, un-gated, backbone frozen."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from search_space.delta_set import DeltaSet, DeltaSpec
from search_space.deltas import get_kind
from search_space.positions import Candidate, find_sites
from search_space.structure import Structure, StructureEntry
from search_space.structure_check import StructureMismatchError, check_structure

__all__ = [
    "StructureMismatchError",
    "apply_structure",
    "freeze",
    "structure_from_candidates",
    "structure_specs",
]


def structure_specs(model: nn.Module, structure: Structure) -> list[DeltaSpec]:
    """Resolve each entry to a site of ``model`` after checking the structure against it
    (positions, recomputed sizes, duplicates, budget, backbone size): a clear error, never
    a silently wrong parameter count."""
    check_structure(structure, model, f"structure for {structure.backbone!r}")
    sites = {s.path: s for s in find_sites(model)}
    return [
        DeltaSpec(sites[entry.path], entry.kind, get_kind(entry.kind).load_options(entry.options))
        for entry in structure.entries
    ]


def freeze(model: nn.Module) -> None:
    """Make every backbone parameter non-trainable."""
    for p in model.parameters():
        p.requires_grad_(False)


def apply_structure(model: nn.Module, structure: Structure, lora_scale: float = 1.0) -> DeltaSet:
    """Freeze ``model`` and hook on freshly initialised deltas for every entry, un-gated."""
    specs = structure_specs(model, structure)
    freeze(model)
    return DeltaSet(model, specs, slot=None, lora_scale=lora_scale)


def entry_of(c: Candidate) -> StructureEntry:
    """The structure entry of a chosen candidate: its site, kind, size and options."""
    s = c.site
    options = () if c.options is None else tuple(c.options.values().items())
    return StructureEntry(s.path, c.kind, c.size, options, s.layer, s.role, s.stack)


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
        entries=tuple(entry_of(c) for c in chosen),
        backbone=backbone,
        backbone_params=backbone_params,
        budget=budget,
        space=space,
        meta=dict(meta or {}),
    )
