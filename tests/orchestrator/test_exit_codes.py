"""Every `s3delta` command exits through a named code (`orchestrator/cli/exit_codes.py`),
so 2 means "refused, nothing started" everywhere (it was spelled four ways)."""

from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli.exit_codes import EXIT_INVALID

CLI = Path(__file__).resolve().parent.parent.parent / "orchestrator" / "cli"


def test_no_command_exits_with_a_bare_number() -> None:
    bare = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Exit"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == [], f"use orchestrator.cli.exit_codes: {bare}"


def test_refused_input_exits_with_the_named_code(tmp_path: Path) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text("name: x\n")
    result = CliRunner().invoke(app, ["validate", str(sweep)])
    assert result.exit_code == EXIT_INVALID == 2
    result = CliRunner().invoke(app, ["space", "no-such/model-here", "--space", "Q"])
    assert result.exit_code == EXIT_INVALID
