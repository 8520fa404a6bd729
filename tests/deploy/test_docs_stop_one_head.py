"""The docs never tell users to run `ray stop`, which kills every Ray process on the machine."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _shell_lines(markdown: str) -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", markdown, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_no_documented_command_runs_ray_stop() -> None:
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for line in _shell_lines(doc.read_text()):
            assert not re.match(r"^(sudo\s+)?ray\s+stop\b", line), f"{doc.name}: {line}"


def test_cluster_docs_stop_the_head_by_its_session() -> None:
    lines = _shell_lines((REPO / "docs" / "cluster.md").read_text())
    assert any(line.startswith("setsid --fork") and "head.sid" in line for line in lines)
    assert any('pkill -TERM -s "$sid"' in line for line in lines)
