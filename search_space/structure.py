"""`Structure`: the answer of a search, a value type with a versioned JSON form.

A structure is a list of (position, kind, size) entries plus what they were chosen
for: the budget and the backbone. It is what users fetch, ship and retrain.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # positions imports torch; reading a structure file must not
    from search_space.positions import Candidate

FORMAT = "s3delta.structure"
VERSION = 1


class StructureFormatError(ValueError):
    """A structure file that is not a valid s3delta structure."""


@dataclass(frozen=True)
class StructureEntry:
    """One chosen delta: module path, kind, exact size and kind options."""

    path: str
    kind: str
    size: int
    rank: int = 1  # lora rank
    width: int = 0  # adapter bottleneck width
    layer: int = -1
    role: str = ""
    stack: str = "encoder"

    @property
    def name(self) -> str:
        return f"{self.path}:{self.kind}"

    @classmethod
    def from_candidate(cls, c: Candidate) -> StructureEntry:
        s = c.site
        return cls(s.path, c.kind, c.size, c.rank, 0, s.layer, s.role, s.stack)


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
            "entries": [asdict(e) for e in self.entries],
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


_ENTRY_TYPES = {
    "path": str,
    "kind": str,
    "size": int,
    "rank": int,
    "width": int,
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
        wanted = _ENTRY_TYPES.get(name)
        if wanted is None:
            raise StructureFormatError(
                f"{where}: unknown field {name!r}; allowed: {', '.join(_ENTRY_TYPES)}"
            )
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "a whole number" if wanted is int else "text"
            raise StructureFormatError(f"{where}: {name} must be {kind}, got {value!r:.60}")
    if raw.get("size", 0) < 1:
        raise StructureFormatError(f"{where}: size must be a positive whole number")
    return StructureEntry(**raw)
