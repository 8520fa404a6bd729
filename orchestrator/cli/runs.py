"""`s3delta runs`: the sweeps of a home and their state; `--gc` closes what dead drivers left."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator import paths
from orchestrator.cli.exit_codes import EXIT_INVALID
from orchestrator.runner.settings import resolve_settings
from orchestrator.sweep import SweepValidationError, build_plan, load_sweep

# `inventory` (MLflow, the stores) loads inside the commands: the CLI imports every
# command module at start, and `validate` must not load MLflow.


def runs(
    sweeps: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Sweep YAML files to look at (their own stores); default: every sweep "
            "under $S3DELTA_HOME."
        ),
    ] = None,
    gc: Annotated[
        bool,
        typer.Option(
            "--gc",
            help="Close the MLflow runs and Optuna trials that drivers which died left "
            "RUNNING (as interrupted; `run --resume` continues them). Sweeps whose driver "
            "still runs are left alone.",
        ),
    ] = False,
    home: Annotated[
        Path | None, typer.Option(help="The home to list (default: $S3DELTA_HOME or ./runs).")
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default as for `run`).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna storage URL (default: each sweep's <run dir>/optuna.db)."),
    ] = None,
) -> None:
    """List sweeps (running, orphaned, finished, ...) and, with --gc, close orphaned records."""
    from orchestrator.runner import inventory  # MLflow: see the top

    # a sweep's MLflow server that is away: said in its row at once, not after minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    default_uri = None  # the home's own store, below a sweep's own (its file's)
    if home is not None and not os.environ.get(paths.MLFLOW_URI_ENV):
        default_uri = paths.sqlite_uri(home.expanduser().resolve() / "mlflow.db")
    try:
        places = (
            _places_of_files(sweeps, tracking_uri or default_uri, storage)
            if sweeps
            else inventory.home_places(
                (home or paths.s3delta_home()).expanduser().resolve(),
                tracking_uri,
                storage,
                default_uri,
            )
        )
    except paths.PathSettingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if not places:
        typer.echo("no sweeps found (a sweep's run dir holds plan.json once it has started)")
        return
    states = [inventory.state_of(place) for place in places]
    for line in inventory.table(states):
        typer.echo(line)
    for state in states:
        if state.unreachable:
            typer.echo(f"{state.place.name}: its stores cannot be read: {state.unreachable}")
    if not gc:
        return
    for state in states:
        name = state.place.name
        if state.unreachable:
            continue
        if state.state == "running":
            typer.echo(f"gc {name}: left alone, its driver runs ({state.driver})")
            continue
        if not state.orphans:
            continue
        if not state.place.run_dir.is_dir():  # found in MLflow: its lock file is elsewhere
            typer.echo(f"gc {name}: left alone; its run dir {state.place.run_dir} is not here")
            continue
        try:
            changed = inventory.collect(state.place)
        except inventory.SweepLockedError as error:  # a driver started meanwhile
            typer.echo(f"gc {name}: left alone; {error}")
            continue
        for line in changed:
            typer.echo(f"gc {name}: {line}")
    typer.echo("gc done; continue a sweep with `s3delta run SWEEP.yaml --resume`")


def _places_of_files(files: list[Path], tracking_uri: str | None, storage: str | None) -> list[Any]:
    from orchestrator.runner import inventory

    places = []
    for file in files:
        try:
            sweep = load_sweep(file)
        except SweepValidationError as error:
            for line in error.problems:
                typer.echo(f"{error.source}: {line}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
        settings = resolve_settings(
            sweep, run_dir=sweep.run_dir, tracking_uri=tracking_uri, storage_url=storage
        )
        place = inventory.place_of(settings.run_dir, settings.tracking_uri, settings.storage_url)
        if place is None:
            names = inventory.study_names(sweep.sweep_name, build_plan(sweep).cells)
            place = inventory.SweepPlace(
                sweep.sweep_name,
                settings.run_dir,
                settings.tracking_uri,
                settings.storage_url,
                names,
            )
        places.append(place)
    return places


def register(app: typer.Typer) -> None:
    """Add `runs` to the app."""
    app.command("runs")(runs)
