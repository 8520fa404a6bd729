"""CLI commands `s3delta results` (paired comparison, or the raw table) and `s3delta best`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import typer

from orchestrator.cli.exit_codes import EXIT_FAILED
from orchestrator.kinds import ResultsOptions, kind_of_recorded

TRACKING_HELP = (
    "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under $S3DELTA_HOME or ./runs)"
)
EXPERIMENT_HELP = "MLflow experiment the sweep was logged to"
# The reader (MLflow, pandas) and the export (torch) load inside the commands: the CLI
# imports every command module at start, and `validate` must not load them.


def open_client(tracking_uri: str | None, experiment: str) -> Any:
    """A `Client`, or exit 1 with the reason (e.g. the known experiments) on stderr."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from orchestrator.results.client import Client, ResultsError

    try:
        return Client(tracking_uri, experiment)
    except ResultsError as err:
        fail(str(err))


def fail(message: str) -> NoReturn:
    """Print an error to stderr and exit with status 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILED)


def results(
    sweep: str = typer.Argument(..., help="sweep name (s3delta.sweep tag)"),
    raw: bool = typer.Option(
        False, "--raw", help="the per-metric table (mean/std per task, method, budget) instead"
    ),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="baseline listed first and named in the verdict (default: the sweep's "
        "seeds.baseline when it adds seeds until decided, else random)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    as_csv: bool = typer.Option(
        False, "--csv", help="with --raw: print CSV (the machine columns, scores as recorded)"
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help=EXPERIMENT_HELP),
) -> None:
    """Print s3delta against its baselines, paired by seed (or, with --raw, every cell's scores)."""
    from orchestrator.results.client import ResultsError

    if as_csv and not raw:
        fail("--csv prints the per-cell table: add --raw (the comparison has --json)")
    client = open_client(tracking_uri, experiment)
    options = ResultsOptions(raw=raw, baseline=baseline, as_json=as_json, as_csv=as_csv)
    try:
        text = kind_of_recorded(client, sweep).results_text(client, sweep, options)
    except ResultsError as err:
        fail(str(err))
    typer.echo(text, nl=False)


def best(
    sweep: str = typer.Argument(..., help="sweep name (s3delta.sweep tag)"),
    task: str = typer.Option(..., "--task", help="task name, e.g. glue/sst2"),
    budget: str = typer.Option(..., "--budget", help="budget as written in the sweep, e.g. 0.01%"),
    out: Path | None = typer.Option(None, "--out", help="write the structure JSON here"),
    run_id: bool = typer.Option(
        False, "--run-id", help="print only that run's MLflow run id (for `s3delta export`)"
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help=EXPERIMENT_HELP),
) -> None:
    """Print (or save) the structure of the best-dev s3delta final run of a task and budget;
    with --run-id, that run's id: `s3delta export $(s3delta best ... --run-id) DIR`."""
    from orchestrator.results.client import ResultsError

    client = open_client(tracking_uri, experiment)
    try:
        if run_id:
            typer.echo(client.best_run_id(sweep, task, budget))
            return
        structure = client.best_structure(sweep, task, budget)
    except ResultsError as err:
        fail(str(err))
    if out is not None:
        structure.save(out)
        typer.echo(
            f"wrote {out} ({len(structure.entries)} modules, {structure.total_size} parameters)"
        )
        return
    typer.echo(json.dumps(structure.to_dict(), indent=2))


def export(
    run: str = typer.Argument(
        ...,
        help="a trial: its MLflow run id (the best s3delta trial's: `s3delta best SWEEP --task "
        "T --budget B --run-id`; every final trial's: `s3delta results SWEEP --json`, "
        "final_runs) or its local folder (runs/<sweep>/trials/<trial>, holding "
        "delta.safetensors)",
    ),
    out_dir: Path = typer.Argument(..., help="folder to write (must not exist, or be empty)"),
    fmt: str = typer.Option("peft", "--format", help="peft (PeftModel.from_pretrained) or native"),
    partial: bool = typer.Option(
        False,
        "--partial",
        help="peft: also when PEFT cannot express every entry: export the rest, print what "
        "was dropped and how much the outputs change",
    ),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    experiment: str = typer.Option("s3delta", "--experiment", help=EXPERIMENT_HELP),
) -> None:
    """Export a trial's trained deltas and head as a PEFT adapter (checked to predict like
    the trained model) or in s3delta's own format, with a model card (README.md).

    PEFT holds LoRA, BitFit and LayerNorm gains; a structure with LRA or adapters exports
    exactly only with --format native (every structure), or to PEFT with --partial, which
    keeps what PEFT can hold and says what it keeps, drops and how much outputs change."""
    from orchestrator.quiet import quiet_libraries
    from orchestrator.results.client import ResultsError
    from search_space.peft_export import PeftExportError
    from search_space.weights import BackboneMismatchError, DeltaFileError
    from workers.export import ExportError, describe

    if fmt not in ("peft", "native"):
        fail(f"--format {fmt!r}: use peft or native")
    quiet_libraries()  # no "Loading weights" bars around the export's own lines
    try:
        report = _export_client(run, tracking_uri, experiment).export(run, out_dir, fmt, partial)
    except (
        ResultsError,
        PeftExportError,
        ExportError,
        DeltaFileError,
        BackboneMismatchError,
        FileNotFoundError,
    ) as err:
        fail(" ".join(str(err).split()))
    lines = describe(report)
    typer.echo(lines[0])
    for line in lines[1:]:
        typer.echo(line, err=bool(report.dropped))


def _export_client(run: str, tracking_uri: str | None, experiment: str) -> Any:
    """The client for an export; a local trial folder needs no tracking store."""
    from orchestrator.results.client import Client, ResultsError, default_tracking_uri

    if Path(run).expanduser().is_dir():
        try:
            return Client(tracking_uri or default_tracking_uri(), experiment)
        except ResultsError:
            return _FolderOnly()
    return open_client(tracking_uri, experiment)


class _FolderOnly:
    """Exports a local trial folder when no tracking store is around (no scores in the card)."""

    def export(self, run: str, out_dir: Path, fmt: str, partial: bool) -> Any:
        from orchestrator.results.client import ResultsError
        from workers.export import export_delta

        folder = Path(run).expanduser()
        if (folder / "random_mask.safetensors").is_file():
            from orchestrator.results.client import export_mask_run

            return export_mask_run(folder / "random_mask.safetensors", out_dir, fmt, None)
        delta = folder / "delta.safetensors"
        if not delta.is_file():
            raise ResultsError(f"{run} has no delta.safetensors; give a finished trial's folder")
        return export_delta(delta, out_dir, fmt, partial)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("results")(results)
    app.command("best")(best)
    app.command("export")(export)
