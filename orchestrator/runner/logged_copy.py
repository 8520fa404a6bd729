"""The sweep file as the stores keep it: passwords in URLs replaced before it is logged."""

from __future__ import annotations

from pathlib import Path

from orchestrator.paths import redact_url


def redacted_copy(sweep_path: Path, folder: Path) -> Path:
    """`sweep_path` itself, or a copy in `folder` with passwords in URLs replaced."""
    text = sweep_path.read_text(encoding="utf-8")
    redacted = redact_url(text)
    if redacted == text:
        return sweep_path
    copy = folder / sweep_path.name
    copy.write_text(redacted, encoding="utf-8")
    return copy
