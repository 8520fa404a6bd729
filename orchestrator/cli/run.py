"""`s3delta run SWEEP.yaml`: run or resume a sweep on embedded Ray or a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.exit_codes import EXIT_FAILED, EXIT_INVALID


def run(
    sweep: Annotated[Path, typer.Argument(help="The sweep YAML file.")],
    run_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for this sweep's Optuna DB, trial outputs and checkpoints "
            "(default: $S3DELTA_HOME/<name>, see docs/cluster.md)."
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join (e.g. 127.0.0.1:6380); default $RAY_ADDRESS, "
            "else an embedded Ray on this machine."
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI; overrides the YAML and env.")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL; overrides the YAML and env.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted sweep; finished trials are not rerun.")
    ] = False,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Times Ray reruns a trial whose worker process died.")
    ] = 3,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed/--no-retry-failed",
            help="With --resume, rerun the trials that failed (default); "
            "--no-retry-failed keeps them failed.",
        ),
    ] = True,
) -> None:
    """Run every cell of a sweep: Optuna tuning, then the best config on every seed."""
    from orchestrator.kinds import run_sweep_file
    from orchestrator.paths import PathSettingError, redact_url
    from orchestrator.runner.cluster import ClusterResourceError
    from orchestrator.runner.env_faults import EnvironmentFault
    from orchestrator.runner.failures import set_retry_failed
    from orchestrator.runner.fence import DriverLostError
    from orchestrator.runner.lock import SweepLockedError
    from orchestrator.runner.outcome import SweepAlreadyRunError
    from orchestrator.runner.stop import DriverStopped
    from orchestrator.sweep import SweepValidationError

    set_retry_failed(retry_failed)
    try:
        outcome = run_sweep_file(
            sweep,
            run_dir=run_dir,
            address=address,
            tracking_uri=tracking_uri,
            storage_url=storage,
            resume=resume,
            max_retries=max_retries,
        )
    except SweepValidationError as error:
        for line in error.problems:
            typer.echo(f"{error.source}: {line}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except ClusterResourceError as error:
        typer.echo(f"{sweep}: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (PathSettingError, SweepAlreadyRunError, SweepLockedError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except EnvironmentFault as fault:  # one line, exit 4: disk full, a store away
        typer.echo(f"{sweep}: {fault}".replace("SWEEP.yaml", str(sweep)), err=True)
        raise typer.Exit(fault.exit_code) from None
    except DriverLostError as lost:  # one line, exit 3: another driver may run the sweep
        typer.echo(f"{sweep}: {lost}", err=True)
        raise typer.Exit(lost.exit_code) from None
    except DriverStopped as stopped:
        closed = (
            "a store could not be reached, so runs left open stay so for `--resume` or "
            "`s3delta runs --gc`"
            if stopped.records_left_open
            else "the runs left open were closed as interrupted"
        )
        typer.echo(
            f"{sweep}: {stopped}; Ray was shut down and {closed}; continue with "
            f"`s3delta run {sweep} --resume`",
            err=True,
        )
        raise typer.Exit(stopped.exit_code) from None
    typer.echo(
        f"sweep {outcome.sweep}: {outcome.ok} trials finished, {outcome.pruned} pruned, "
        f"{outcome.failed} failed, {outcome.skipped} already done before resume"
        + (f", {outcome.retried} failed before and retried" if outcome.retried else "")
        + "; "
        f"MLflow parent run {outcome.parent_run_id} at {redact_url(outcome.tracking_uri)}; "
        f"files in {outcome.run_dir}"
    )
    link = parent_link(outcome.tracking_uri, outcome.parent_run_id)
    if link:
        typer.echo(link)
    for key in outcome.failed_keys:
        typer.echo(f"failed: {key}", err=True)
    if outcome.incomplete:  # cells without every final seed: never reported as finished
        typer.echo(
            f"sweep {outcome.sweep}: incomplete: {outcome.incomplete} cell(s) miss final "
            f"seeds, {outcome.incomplete_failed} failed trial(s); fix the cause, then "
            f"`s3delta run {sweep} --resume` reruns them",
            err=True,
        )
    if outcome.failed or outcome.incomplete:
        raise typer.Exit(EXIT_FAILED)


def parent_link(tracking_uri: str, run_id: str) -> str:
    """Where to see the sweep run in the MLflow UI (its runs view), or "" if unknown."""
    from mlflow.tracking import MlflowClient

    from orchestrator.mlflow_links import run_url

    try:
        experiment_id = MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    except Exception:
        return ""
    if tracking_uri.startswith(("http://", "https://")):
        return f"MLflow: {run_url(tracking_uri, experiment_id, run_id)}"
    url = run_url("http://127.0.0.1:5000", experiment_id, run_id)
    return f"MLflow: run `s3delta ui`, then open {url}"


def register(app: typer.Typer) -> None:
    """Add `run` to the app."""
    app.command("run")(run)
