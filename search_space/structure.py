"""`Structure`: the answer of a search, a value type with a versioned JSON form.

A structure is a list of (position, kind, size) entries plus what they were chosen
for: the budget and the backbone. It is what users fetch, ship and retrain.

An entry's JSON holds its kind's own options (hyperparameters) as fields of their own,
e.g. ``"rank": 8`` on a LoRA entry or ``"width": 24`` on an adapter; which names a kind
has is the delta registry's business (`search_space.deltas`), checked when the structure
is applied, so reading a file needs no torch. Files written before the registry carry
``rank`` and ``width`` on every entry; they still load (see `DeltaKind.load_options`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "s3delta.structure"
VERSION = 1


class StructureFormatError(ValueError):
    """A structure file that is not a valid s3delta structure."""


@dataclass(frozen=True)
class StructureEntry:
    """One chosen delta: module path, kind, exact size and the kind's options as saved
    ((name, whole number) pairs, e.g. ``(("rank", 8),)``; a missing name takes the kind's
    default)."""

    path: str
    kind: str
    size: int
    options: tuple[tuple[str, int], ...] = ()
    layer: int = -1
    role: str = ""
    stack: str = "encoder"

    @property
    def name(self) -> str:
        return f"{self.path}:{self.kind}"

    def to_dict(self) -> dict[str, Any]:
        """The entry's JSON object: its options sit between ``size`` and ``layer``."""
        return {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            **dict(self.options),
            "layer": self.layer,
            "role": self.role,
            "stack": self.stack,
        }


@dataclass(frozen=True)
class Structure:
    """Chosen deltas for one backbone; ``budget`` is None for budget-free manual structures."""

    entries: tuple[StructureEntry, ...]
    backbone: str
    backbone_params: int
    budget: int | None = None
    space: str = "M"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def fraction(self) -> float:
        return self.total_size / max(self.backbone_params, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "backbone": self.backbone,
            "backbone_params": self.backbone_params,
            "budget": self.budget,
            "space": self.space,
            "total_size": self.total_size,
            "meta": dict(self.meta),
            "entries": [e.to_dict() for e in self.entries],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Structure:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StructureFormatError(
                f'{source}: not an s3delta structure (expected "format": "{FORMAT}")'
            )
        if data.get("version") != VERSION:
            raise StructureFormatError(
                f"{source}: structure version {data.get('version')!r} is not supported "
                f"(this s3delta reads version {VERSION}); upgrade s3delta"
            )
        try:
            raw_entries = data["entries"]
            if not isinstance(raw_entries, list):
                raise TypeError("entries must be a list")
            entries = tuple(_entry(e, i, source) for i, e in enumerate(raw_entries))
            if not isinstance(data["backbone_params"], int) or data["backbone_params"] < 1:
                raise TypeError("backbone_params must be a positive whole number")
            return cls(
                entries=entries,
                backbone=str(data["backbone"]),
                backbone_params=int(data["backbone_params"]),
                budget=None if data.get("budget") is None else int(data["budget"]),
                space=str(data.get("space", "M")),
                meta=dict(data.get("meta") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise StructureFormatError(f"{source}: malformed structure: {exc}") from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Structure:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise StructureFormatError(f"{path}: structure file does not exist") from None
        except json.JSONDecodeError as exc:
            raise StructureFormatError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(path))


# an entry's own fields; every other field is one of its kind's options (a whole number)
ENTRY_FIELDS = {
    "path": str,
    "kind": str,
    "size": int,
    "layer": int,
    "role": str,
    "stack": str,
}


def _entry(raw: Any, index: int, source: str) -> StructureEntry:
    """One entry with its field types checked (JSON is edited by hand: trust nothing)."""
    where = f"{source}: malformed structure: entries[{index}]"
    if not isinstance(raw, dict):
        raise StructureFormatError(f"{where}: expected an object with path, kind and size")
    for name, value in raw.items():
        wanted = ENTRY_FIELDS.get(name, int)
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "a whole number" if wanted is int else "text"
            what = name if name in ENTRY_FIELDS else f"{name} (an option of the kind)"
            raise StructureFormatError(f"{where}: {what} must be {kind}, got {value!r:.60}")
    if raw.get("size", 0) < 1:
        raise StructureFormatError(f"{where}: size must be a positive whole number")
    own = {k: v for k, v in raw.items() if k in ENTRY_FIELDS}
    options = tuple((k, v) for k, v in raw.items() if k not in ENTRY_FIELDS)
    return StructureEntry(**own, options=options)
