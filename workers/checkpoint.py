"""Phase checkpoints a restarted trial resumes from (same result as an unbroken run).

Saved with ``torch.save`` and read back with ``weights_only=True`` (tensors, numbers,
strings and lists only: no pickled code). Written to a temp file then renamed, so a
kill mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


class Checkpointer:
    """Saves and loads one file per phase under ``directory``; no-op when directory is None."""

    def __init__(self, directory: str | None, every: int) -> None:
        self.directory = Path(directory) if directory else None
        self.every = every if directory else 0
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def _path(self, phase: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{phase}.pt"

    def save(self, phase: str, state: dict[str, Any]) -> None:
        if self.directory is None:
            return
        path = self._path(phase)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load(self, phase: str) -> dict[str, Any] | None:
        if self.directory is None or not self._path(phase).is_file():
            return None
        return torch.load(self._path(phase), weights_only=True)

    def save_json(self, name: str, data: dict[str, Any]) -> None:
        if self.directory is None:
            return
        tmp = self.directory / f"{name}.json.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.directory / f"{name}.json")

    def load_json(self, name: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        path = self.directory / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None
