"""The registry of delta kinds: each kind says, in its own file, everything s3delta needs to know.

Adding a delta kind is one file that defines a `DeltaKind` and one `register_kind(...)`
line in ``search_space/deltas/__init__.py`` (PEFT registers its tuners the same way).
Everything that used to name kinds reads the registry instead: the spaces
(`search_space.positions`), sizes and construction (`delta_size`, `make_delta`),
structure entries and their checks, manual baselines, the PEFT export and the
dashboards' colours, labels and order.

A kind's own hyperparameters (LoRA's rank, the adapter's width) are a frozen dataclass of
whole numbers, a subclass of `KindOptions` with a default for every field (PEFT's typed
configs, one per kind). A structure entry saves them as its own JSON fields, and a
space's candidates use the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from search_space.deltas.base import Delta, Site
from search_space.structure import ENTRY_FIELDS

SITE_TYPES: tuple[str, ...] = ("linear", "norm", "block")
# structure files written before the registry saved "rank" (default 1) and "width" (0 =
# the adapter's default) on every entry, whatever its kind
_LEGACY_DEFAULTS = {"rank": 1, "width": 0}


@dataclass(frozen=True)
class KindOptions:
    """A kind's hyperparameters: whole-number fields, each with a default, each at least 1."""

    def problems(self) -> list[str]:
        """What is wrong with these values, one phrase each (empty when they are usable)."""
        return [
            f"{f.name} must be a whole number of at least 1, got {getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if not isinstance(getattr(self, f.name), int)
            or isinstance(getattr(self, f.name), bool)
            or getattr(self, f.name) < 1
        ]

    def values(self) -> dict[str, int]:
        """Field name -> value, in declaration order (what a structure entry saves)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class NoOptions(KindOptions):
    """For kinds without hyperparameters."""


@dataclass(frozen=True)
class BuildContext:
    """What building a delta may need beyond its site and options."""

    target: nn.Module  # the backbone module the delta hooks onto (e.g. a norm's eps)
    lora_scale: float = 1.0  # the trial's LoRA scaling (PEFT's lora_alpha / r)


PeftSlot = Literal["lora", "lora_bias", "norm_weight", "norm_bias"]


@dataclass(frozen=True)
class PeftPlacement:
    """Where an entry goes in PEFT's LoRA format, and which of its tensors fill the slot.

    ``lora``: a LoRA module of rank ``rank`` (tensors A then B); ``lora_bias``: the bias of
    the LoRA B matrix on that Linear (PEFT's ``lora_bias=True``); ``norm_weight`` /
    ``norm_bias``: added to a LayerNorm's weight / bias, saved through ``modules_to_save``.
    """

    slot: PeftSlot
    tensors: tuple[str, ...]
    rank: int = 0


# (backbone module at the entry's path or None, the entry's options) -> placement, or why not
PeftRule = Callable[[nn.Module | None, Any], PeftPlacement | str]


@dataclass(frozen=True)
class DeltaKind:
    """One delta kind, declared once in its own file (search_space/deltas/<kind>.py)."""

    name: str
    sites: tuple[str, ...]  # site types it may sit on: linear, norm, block
    options: type[KindOptions]  # its hyperparameters, defaults = what a space uses
    size: Callable[[Site, Any], int]  # exact trainable parameters at a site
    build: Callable[[Site, Any, BuildContext], Delta]  # a freshly initialised delta
    spaces: tuple[str, ...] = ()  # search spaces that offer it as a candidate
    # order among the kinds a space offers at one site: lower first, ties in registry order
    site_priority: int = 0
    peft: PeftRule | None = None  # None: PEFT has no such module
    label: str = ""  # human-readable name (dashboards)
    color: str = "#17becf"  # colour in the dashboards' figures

    def parse_options(self, values: Mapping[str, Any]) -> KindOptions:
        """Options from saved values; an unknown name raises `ValueError` naming the allowed."""
        allowed = [f.name for f in dataclasses.fields(self.options)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            have = ", ".join(allowed) if allowed else "none"
            raise ValueError(
                f"kind {self.name!r} has no option {unknown[0]!r} (its options: {have})"
            )
        return self.options(**values)

    def load_options(self, saved: tuple[tuple[str, int], ...]) -> KindOptions:
        """Options from a structure entry's saved pairs; a legacy ``rank``/``width`` field
        at its old default is dropped (the kind's default applies). Raises `ValueError`."""
        names = {f.name for f in dataclasses.fields(self.options)}
        values = dict(saved)
        for legacy, old_default in _LEGACY_DEFAULTS.items():
            if values.get(legacy) == old_default and (legacy not in names or old_default == 0):
                del values[legacy]
        return self.parse_options(values)

    def resolve(self, options: KindOptions | None) -> KindOptions:
        """``options``, or the defaults when None; options of another kind are refused."""
        if options is None:
            return self.options()
        if not isinstance(options, self.options):
            raise TypeError(
                f"kind {self.name!r} takes {self.options.__name__}, got {type(options).__name__}"
            )
        return options


_KINDS: dict[str, DeltaKind] = {}


def register_kind(kind: DeltaKind) -> DeltaKind:
    """Add ``kind`` to the registry (after the kinds already there) and return it."""
    if kind.name in _KINDS:
        raise ValueError(f"delta kind {kind.name!r} is already registered")
    if not kind.name or ":" in kind.name or "." in kind.name:
        raise ValueError(f"delta kind name {kind.name!r} must be non-empty without ':' or '.'")
    bad = [s for s in kind.sites if s not in SITE_TYPES]
    if bad or not kind.sites:
        raise ValueError(f"delta kind {kind.name!r}: sites must be some of {', '.join(SITE_TYPES)}")
    for f in dataclasses.fields(kind.options):
        if f.name in ENTRY_FIELDS:
            raise ValueError(f"delta kind {kind.name!r}: option name {f.name!r} is reserved")
        if f.type not in (int, "int") or f.default is dataclasses.MISSING:
            raise ValueError(
                f"delta kind {kind.name!r}: option {f.name!r} must be an int with a default"
            )
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a registered kind (for tests that register a kind of their own)."""
    _KINDS.pop(name, None)


def kinds() -> tuple[DeltaKind, ...]:
    """Every registered kind, in registry order (also the order the dashboards draw them in)."""
    return tuple(_KINDS.values())


def kind_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def get_kind(name: str) -> DeltaKind:
    """The kind called ``name``; an unknown name raises `ValueError` listing the known ones."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ValueError(f"unknown delta kind {name!r}: use one of {', '.join(_KINDS)}") from None


def find_kind(name: str) -> DeltaKind | None:
    return _KINDS.get(name)


def space_names() -> tuple[str, ...]:
    """Every space some kind joins, in order of first appearance."""
    names: dict[str, None] = {}
    for kind in _KINDS.values():
        names.update(dict.fromkeys(kind.spaces))
    return tuple(names)


def space_kinds(space: str) -> dict[str, tuple[str, ...]]:
    """Site type -> the kinds ``space`` offers there, in candidate order."""
    members = sorted(
        (k for k in _KINDS.values() if space in k.spaces),
        key=lambda k: k.site_priority,  # stable: ties stay in registry order
    )
    return {t: tuple(k.name for k in members if t in k.sites) for t in SITE_TYPES}


def delta_size(kind: str, site: Site, options: KindOptions | None = None) -> int:
    """Exact trainable parameter count of ``kind`` (with ``options``, default its defaults)."""
    spec = get_kind(kind)
    return spec.size(site, spec.resolve(options))


def make_delta(
    kind: str,
    site: Site,
    target: nn.Module,
    options: KindOptions | None = None,
    lora_scale: float = 1.0,
) -> Delta:
    """A freshly initialised delta of ``kind`` for ``site`` (the backbone module ``target``)."""
    spec = get_kind(kind)
    if site.site_type not in spec.sites:
        raise ValueError(f"delta kind {kind!r} cannot sit on a {site.site_type} ({site.path})")
    return spec.build(site, spec.resolve(options), BuildContext(target, lora_scale))
