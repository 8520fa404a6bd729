"""The delta tunings (DETs) a subspace experiment compares, and matching their sizes.

Each DET is one delta kind at a fixed placement with one integer knob that sets its size:

- ``adapter``: a bottleneck adapter after every attention and FFN block (Houlsby
  placement); knob = bottleneck width.
- ``lora``: LoRA on the query, key and value projections of every layer; knob = rank.
  (q, k, v rather than q, v: on a 384-wide encoder LoRA on q, v grows in steps of
  9,216 per rank while adapters sit half a step off, so no small sizes match within 1%;
  on q, k, v, rank 2j+1 matches adapter width 3j+1 within 0.2%.)
- ``prefix``: prefix-tuning, learnable key/value prefixes in every self-attention;
  knob = prefix length in tokens.

Sizes are matched by picking each DET's knob closest to a target size, then requiring
all sizes to lie within a tolerance (1%) of each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from search_space.deltas import KindOptions, Site, delta_size, get_kind, make_delta
from search_space.positions import find_sites


class SizeMatchError(ValueError):
    """DET sizes that cannot be matched within the tolerance."""


@dataclass(frozen=True)
class DetKind:
    """A DET: which sites it sits on, the kind there, and what its knob is called."""

    name: str
    kind: str
    knob: str
    sites: Callable[[Site], bool]
    description: str


DETS: dict[str, DetKind] = {
    d.name: d
    for d in (
        DetKind(
            "adapter",
            "adapter",
            "width",
            lambda s: s.site_type == "block",
            "bottleneck adapter after every attention and FFN block",
        ),
        DetKind(
            "lora",
            "lora",
            "rank",
            lambda s: s.site_type == "linear" and s.role in ("q", "k", "v"),
            "LoRA on the query, key and value projections of every layer",
        ),
        DetKind(
            "prefix",
            "prefix",
            "tokens",
            lambda s: s.site_type == "block" and s.role == "attn_block",
            "learnable key/value prefix in every self-attention",
        ),
    )
}
MAX_KNOB = 4096


@dataclass(frozen=True)
class DetChoice:
    """A DET with its knob chosen: ``size`` is its exact trainable parameter count."""

    name: str
    kind: str
    knob: str
    value: int
    size: int


def unknown_det_message(name: str) -> str:
    return f"unknown DET {name!r}: use {', '.join(repr(d) for d in DETS)}"


def det_sites(model: nn.Module, name: str) -> list[Site]:
    """The sites of ``model`` that DET ``name`` sits on, in module order."""
    if name not in DETS:
        raise ValueError(unknown_det_message(name))
    det = DETS[name]
    sites = [s for s in find_sites(model) if det.sites(s)]
    if not sites:
        raise ValueError(f"DET {name!r} ({det.description}) finds no site in this model")
    return sites


def knob_options(name: str, value: int) -> KindOptions:
    """The delta kind's options with the DET's knob set to ``value``."""
    det = DETS[name]
    return get_kind(det.kind).parse_options({det.knob: value})


def det_size(sites: Sequence[Site], name: str, value: int) -> int:
    """Exact trainable size of DET ``name`` with knob ``value`` on ``sites``."""
    options = knob_options(name, value)
    return sum(delta_size(DETS[name].kind, s, options) for s in sites)


def closest_choice(model: nn.Module, name: str, target: int) -> DetChoice:
    """The knob value whose size is closest to ``target`` (sizes grow linearly in it)."""
    det, sites = DETS[name], det_sites(model, name)
    one, two = det_size(sites, name, 1), det_size(sites, name, 2)
    step = two - one
    guess = max(1, min(MAX_KNOB, round((target - (one - step)) / step)))
    best = min(
        (v for v in (guess - 1, guess, guess + 1) if 1 <= v <= MAX_KNOB),
        key=lambda v: (abs(det_size(sites, name, v) - target), v),
    )
    return DetChoice(name, det.kind, det.knob, best, det_size(sites, name, best))


def spread(choices: Sequence[DetChoice]) -> float:
    """(largest - smallest) / smallest size: how far apart the matched sizes are."""
    sizes = [c.size for c in choices]
    return (max(sizes) - min(sizes)) / min(sizes)


def matchable_targets(
    model: nn.Module, names: Sequence[str], tolerance: float, count: int = 3
) -> list[int]:
    """The smallest targets (sizes of the first DET) every DET can match within tolerance."""
    found: list[int] = []
    sites = det_sites(model, names[0])
    for value in range(1, MAX_KNOB + 1):
        target = det_size(sites, names[0], value)
        if spread([closest_choice(model, n, target) for n in names]) <= tolerance:
            found.append(target)
            if len(found) == count:
                break
    return found


def match_sizes(
    model: nn.Module, names: Sequence[str], target: int, tolerance: float = 0.01
) -> list[DetChoice]:
    """Each DET's knob for ``target``; `SizeMatchError` naming the fix when the sizes
    differ by more than ``tolerance``."""
    choices = [closest_choice(model, n, target) for n in names]
    if spread(choices) > tolerance:
        got = ", ".join(f"{c.name} ({c.knob} {c.value}) {c.size:,}" for c in choices)
        ok = matchable_targets(model, names, tolerance)
        hint = (
            f"use a target every DET can reach, e.g. {', '.join(f'{t:,}' for t in ok)}"
            if ok
            else "choose other DETs"
        )
        raise SizeMatchError(
            f"target_size: {target:,} cannot be matched within {tolerance:.0%}: the closest "
            f"sizes are {got} ({spread(choices):.1%} apart); fix: {hint}"
        )
    return choices


class DetModule(nn.Module):
    """The deltas of one DET hooked onto a (frozen) backbone; names read like `DeltaSet`'s."""

    def __init__(self, backbone: nn.Module, choice: DetChoice) -> None:
        super().__init__()
        self.choice = choice
        modules = dict(backbone.named_modules())
        options = knob_options(choice.name, choice.value)
        self.deltas = nn.ModuleDict()
        for site in det_sites(backbone, choice.name):
            target = modules[site.path]
            delta = make_delta(choice.kind, site, target, options)
            delta.attach(target)
            self.deltas[f"{site.path}:{choice.kind}".replace(".", "__")] = delta

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def detach_all(self) -> None:
        for delta in self.deltas.values():
            delta.detach()  # type: ignore[operator]
