"""Candidate positions: sites found by family rules, crossed with the kinds of a space.

Space ``M`` (mixed, default): {lora, bitfit} on every Linear, {lnfit, bitfit} on every
norm, ``lra`` after every attention and FFN block. Space ``L``: rank-1 LoRA on every
Linear. Each kind says which spaces offer it (`DeltaKind.spaces`, in the delta registry),
and a space's candidates use the kind's default options. A candidate is named
``<module path>:<kind>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from search_space.deltas import KindOptions, Site, get_kind, space_kinds, space_names
from search_space.families import UnsupportedModelError, family_of, place_of
from search_space.structure import StructureEntry


class _Spaces(Mapping[str, dict[str, tuple[str, ...]]]):
    """Space -> site type -> kinds offered there: a live view of the delta registry."""

    def __getitem__(self, space: str) -> dict[str, tuple[str, ...]]:
        if space not in space_names():
            raise KeyError(space)
        return space_kinds(space)

    def __iter__(self) -> Iterator[str]:
        return iter(space_names())

    def __len__(self) -> int:
        return len(space_names())


SPACES: Mapping[str, dict[str, tuple[str, ...]]] = _Spaces()


@dataclass(frozen=True)
class Candidate:
    """One delta kind at one site, with its exact trainable size and its options."""

    site: Site
    kind: str
    size: int
    options: KindOptions | None = None  # None: the kind's defaults

    @property
    def name(self) -> str:
        return f"{self.site.path}:{self.kind}"


def _dims(module: nn.Module, site_type: str) -> tuple[int, int, str]:
    if site_type == "linear":
        return int(module.in_features), int(module.out_features), ""  # type: ignore[arg-type]
    if site_type == "norm":
        hidden = int(module.weight.shape[0])  # type: ignore[union-attr,index]
        kind = "layernorm" if isinstance(module, nn.LayerNorm) else "rmsnorm"
        return hidden, hidden, kind
    return 0, 0, ""


def find_sites(model: nn.Module) -> list[Site]:
    """Every site of the backbone's family, in module order."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", type(model).__name__)
    family = family_of(model_type)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
    sites: list[Site] = []
    for path, module in model.named_modules():
        place = place_of(path, family)
        if place is None:
            continue
        fin, fout, norm_kind = _dims(module, place.site_type)
        if place.site_type == "block":
            fin = fout = hidden
        sites.append(
            Site(path, place.site_type, place.role, place.layer, place.stack, fin, fout, norm_kind)
        )
    if not sites:
        raise UnsupportedModelError(
            f"no candidate sites found in {type(model).__name__} (model type {model_type!r}); "
            "its module names do not follow the family rules in search_space/families.py"
        )
    return sites


def find_candidates(model: nn.Module, space: str = "M") -> list[Candidate]:
    """All candidates of ``space`` on ``model``, sites in module order, kinds in space order."""
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}: use 'M' (mixed, default) or 'L' (rank-1 LoRA)")
    kinds_by_type = SPACES[space]
    out = []
    for site in find_sites(model):
        for name in kinds_by_type[site.site_type]:
            kind = get_kind(name)
            options = kind.options()
            out.append(Candidate(site, name, kind.size(site, options), options))
    return out


def entry_at(site: Site, kind: str, options: Mapping[str, int] | None = None) -> StructureEntry:
    """A structure entry for ``kind`` at ``site`` with its exact size (``options`` by name,
    the kind's defaults for those not given)."""
    spec = get_kind(kind)
    resolved = spec.parse_options(dict(options or {}))
    if resolved.problems():
        raise ValueError(f"delta kind {kind!r}: {resolved.problems()[0]}")
    saved = tuple(resolved.values().items())
    size = spec.size(site, resolved)
    return StructureEntry(site.path, kind, size, saved, site.layer, site.role, site.stack)


def candidate_records(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    """Each candidate's metadata as JSON (written as ``candidates.json`` next to a search's
    ``probabilities.json``, whose keys are these names): name, path, stack, layer, role,
    site type, kind, exact size and the kind's options."""
    return [
        {
            "name": c.name,
            "path": c.site.path,
            "stack": c.site.stack,
            "layer": c.site.layer,
            "role": c.site.role,
            "site_type": c.site.site_type,
            "kind": c.kind,
            "size": c.size,
            "options": {} if c.options is None else c.options.values(),
        }
        for c in candidates
    ]


def backbone_params(model: nn.Module) -> int:
    """Parameter count of the backbone (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
