"""The hand-placed baselines (spec section 5) as data: one table, the one list of their names.

Torch-free, so that method names (``manual/<name>``) are checked without loading a model;
`search_space.manual` builds their structures.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Baseline:
    """One kind, with fixed options, on every site it may sit on (or only those roles)."""

    kind: str
    options: dict[str, int] = field(default_factory=dict)
    roles: tuple[str, ...] = ()  # empty: every site of the kind's site types


BASELINES: dict[str, Baseline] = {
    "lora-qv-r8": Baseline("lora", {"rank": 8}, ("q", "v")),
    "lora-qv-r1": Baseline("lora", {"rank": 1}, ("q", "v")),
    "adapter": Baseline("adapter"),
    "bitfit": Baseline("bitfit"),
    "lnfit": Baseline("lnfit"),
    "lra-all": Baseline("lra"),
}
MANUAL_NAMES: tuple[str, ...] = tuple(BASELINES)
