"""The `s3delta` command line: one Typer app, one module per group of commands."""

from __future__ import annotations

import importlib
from importlib import metadata

import typer
from typer.core import TyperOption

app = typer.Typer(
    name="s3delta",
    help="Sparse structure search for delta tuning: search spaces, trials, sweeps, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        try:
            version = metadata.version("s3delta")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        typer.echo(f"s3delta {version}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Sparse structure search for delta tuning: search spaces, trials, sweeps, reports."""


def _no_flag_placeholders() -> None:
    """Typer 0.29 prints a `<bool>` type after every on/off flag (--json <bool>); a flag
    takes no value, so show none."""
    original = TyperOption.display_type_rich
    if getattr(original, "_s3delta", False):
        return

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:  # type: ignore[name-defined]
        if getattr(self, "is_flag", False):
            return None
        return original(self, ctx)

    display_type_rich._s3delta = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign,assignment]


_no_flag_placeholders()

# Each module defines `register(app)`; kept as names so a broken optional group
# (e.g. a missing plotting extra) does not take the whole CLI down.
_COMMAND_MODULES = ("space", "trial", "subspace", "sweep", "run", "runs", "results", "report")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"orchestrator.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    from orchestrator.quiet import quiet_startup_logs

    quiet_startup_logs()
    app()
