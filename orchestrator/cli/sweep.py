"""CLI command `validate`: check a sweep file of any kind and print its plan.

An invalid file is reported the same way for every kind: each problem on its own line
on stderr, exit code 2, before anything starts. The file's kind (`orchestrator.kinds`)
loads it and words its plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.exit_codes import EXIT_INVALID
from orchestrator.kinds import kind_of_file
from orchestrator.sweep import SweepValidationError

SweepFile = Annotated[Path, typer.Argument(help="Sweep YAML file (see examples/quickstart.yaml).")]


def validate(
    sweep_file: SweepFile,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON instead of a table.")
    ] = False,
) -> None:
    """Check a sweep file and print its plan: cells, tuning trials, final seeded runs."""
    try:
        kind = kind_of_file(sweep_file)
        text = kind.plan_text(kind.load(sweep_file), sweep_file, as_json)
    except SweepValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("validate")(validate)
