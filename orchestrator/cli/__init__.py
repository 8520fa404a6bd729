"""The `s3delta` command line: one Typer app, one module per group of commands."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="s3delta",
    help="Sparse structure search for delta tuning: search spaces, trials, sweeps, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module defines `register(app)`; kept as names so a broken optional group
# (e.g. a missing plotting extra) does not take the whole CLI down.
_COMMAND_MODULES = ("space", "trial", "sweep", "run", "results", "report")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"orchestrator.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
