"""CLI commands on sweep files: `validate` (and, later, `run`).

Every command that takes a sweep file loads it through `load_sweep_or_exit`, so an
invalid file is reported the same way everywhere: each problem on its own line on
stderr, exit code 2, before anything starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.exit_codes import EXIT_INVALID
from orchestrator.sweep import SweepConfig, SweepValidationError, build_plan, load_sweep

SweepFile = Annotated[Path, typer.Argument(help="Sweep YAML file (see examples/quickstart.yaml).")]


def load_sweep_or_exit(path: Path) -> SweepConfig:
    """Load a sweep file; on problems print them all to stderr and exit with code 2."""
    try:
        return load_sweep(path)
    except SweepValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _stores_or_exit(sweep: SweepConfig, sweep_file: Path) -> None:
    """The MLflow store and Optuna storage this sweep would use can be created or reached."""
    from orchestrator.paths import PathSettingError
    from orchestrator.sweep.stores import store_problems

    try:
        problems = store_problems(sweep.tracking_uri, sweep.storage_url)
    except PathSettingError as err:
        problems = [str(err)]
    if problems:
        typer.echo(str(SweepValidationError(str(sweep_file), problems)), err=True)
        raise typer.Exit(EXIT_INVALID)


def validate(
    sweep_file: SweepFile,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON instead of a table.")
    ] = False,
) -> None:
    """Check a sweep file and print its plan: cells, tuning trials, final seeded runs."""
    if _validate_subspace(sweep_file, as_json):
        return
    sweep = load_sweep_or_exit(sweep_file)
    _stores_or_exit(sweep, sweep_file)
    plan = build_plan(sweep)
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
    else:
        typer.echo(plan.render(), nl=False)


def _validate_subspace(sweep_file: Path, as_json: bool) -> bool:
    """A file with a ``subspace:`` section: check it as a subspace sweep and print its
    experiments (task x seed); False for any other file."""
    from orchestrator.sweep.subspace_config import is_subspace_sweep, load_subspace_sweep
    from orchestrator.sweep.yaml_source import read_yaml

    try:
        if not is_subspace_sweep(read_yaml(sweep_file)):
            return False
        sweep = load_subspace_sweep(sweep_file)
    except SweepValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    keys = [f"{task}/seed{seed}" for task in sweep.tasks for seed in sweep.seeds]
    if as_json:
        typer.echo(json.dumps({"sweep": sweep.sweep_name, "experiments": keys}, indent=2))
    else:
        typer.echo(
            f"subspace sweep {sweep.sweep_name}: {len(keys)} experiments ({', '.join(keys)})\n"
        )
    return True


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("validate")(validate)
