"""`s3delta trial`: run one trial in this process, with a progress bar and a result table."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from orchestrator.cli.exit_codes import EXIT_FAILED, EXIT_INVALID


def _validate(cfg_kwargs: dict[str, Any]) -> Any:
    """Build and check the config before any model or data is loaded."""
    from pydantic import ValidationError

    from search_space import BudgetError
    from workers.data import UnknownTaskError
    from workers.methods import UnknownMethodError
    from workers.trial import TrialSetupError, _check
    from workers.trial_types import TrialConfig

    try:
        cfg = TrialConfig(**cfg_kwargs)
        _check(cfg)
    except ValidationError as exc:
        lines = [
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        ]
        typer.echo("\n".join(lines), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (BudgetError, UnknownTaskError, UnknownMethodError, TrialSetupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return cfg


def _run_or_exit(run_trial: Any, cfg: Any, on_progress: Any) -> Any:
    """Run the trial; a data, structure or delta-file error, or a diverged result, is one
    line on stderr and exit 1 (set S3DELTA_DEBUG=1 for the traceback)."""
    import os

    from orchestrator.runner.result_checks import non_finite_reason

    try:
        result = run_trial(cfg, on_progress)
    except Exception as exc:
        if os.environ.get("S3DELTA_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or "no message"
        typer.echo(f"error: {type(exc).__name__}: {message[:1000]}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    reason = non_finite_reason(result)
    if reason:
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(EXIT_FAILED)
    return result


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{result.config['task']} — {result.config['method']} "
        f"(budget {result.config['budget']}, seed {result.config['seed']})"
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in result.dev.items():
        table.add_row(f"dev {name}", f"{value:.4f}")
    for name, value in result.test.items():
        table.add_row(f"test {name}", f"{value:.4f}")
    if result.search_dev:
        table.add_row(
            "search-phase dev score",
            f"{sum(result.search_dev.values()) / len(result.search_dev):.4f}",
        )
    table.add_row(
        "delta parameters", f"{result.delta_params:,} ({100 * result.budget_fraction:.4f}%)"
    )
    if result.budget_params is not None:
        table.add_row("budget", f"{result.budget_params:,}")
    table.add_row("head parameters", f"{result.head_params:,}")
    table.add_row("backbone parameters", f"{result.backbone_params:,}")
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in result.split_sizes.items()))
    table.add_row("wall time", f"{result.wall_time_s:.1f} s on {result.device}")
    if result.structure:
        entries = result.structure["entries"]
        table.add_row(
            "structure",
            "\n".join(f"{e['path']}:{e['kind']} ({e['size']})" for e in entries[:12])
            + (f"\n… {len(entries) - 12} more" if len(entries) > 12 else ""),
        )
    for name, path in result.artifacts.items():
        table.add_row(name, path)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add `trial` to the app."""

    @app.command("trial")
    def trial_command(
        model: Annotated[
            str, typer.Option(help="Hub name or local path.")
        ] = "sentence-transformers/all-MiniLM-L6-v2",
        task: Annotated[str, typer.Option(help="e.g. glue/sst2, superglue/rte")] = "glue/sst2",
        method: Annotated[
            str, typer.Option(help="s3delta, random, manual/<name|file.json>, finetune")
        ] = "s3delta",
        budget: Annotated[
            str | None, typer.Option(help="e.g. 0.01% or 20000 (s3delta and random)")
        ] = "0.01%",
        seed: Annotated[int, typer.Option()] = 1,
        data_dir: Annotated[
            str | None,
            typer.Option(help="Folder with glue/ and superglue/ official files; default: the hub."),
        ] = None,
        max_train_examples: Annotated[int | None, typer.Option()] = None,
        max_eval_examples: Annotated[int | None, typer.Option()] = None,
        steps: Annotated[int | None, typer.Option(help="Search and retrain steps (each).")] = None,
        darts_order: Annotated[
            int, typer.Option(help="1 (first-order) or 2 (second-order DARTS).")
        ] = 1,
        space: Annotated[str, typer.Option(help="M or L")] = "M",
        out: Annotated[
            str | None,
            typer.Option(help="Folder for structure.json, probabilities.json, delta.safetensors."),
        ] = None,
        checkpoint_dir: Annotated[
            str | None, typer.Option(help="Resume from / write checkpoints here.")
        ] = None,
        checkpoint_every: Annotated[int, typer.Option()] = 0,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="Any TrialConfig field, e.g. --set delta_lr=0.01"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Run one trial (search, retrain, evaluate) in this process."""
        kwargs: dict[str, Any] = dict(
            model=model,
            task=task,
            method=method,
            budget=budget,
            seed=seed,
            data_dir=data_dir,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
            darts_order=darts_order,
            space=space,
            output_dir=out,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
        )
        if steps is not None:
            kwargs.update(
                search_steps=steps, retrain_steps=steps, eval_every=max(1, min(50, steps // 4))
            )
        for item in set_ or []:
            name, sep, value = item.partition("=")
            if not sep:
                typer.echo(f"--set {item!r}: write NAME=VALUE, e.g. --set delta_lr=0.01", err=True)
                raise typer.Exit(EXIT_INVALID)
            try:
                kwargs[name] = json.loads(value)
            except json.JSONDecodeError:
                kwargs[name] = value
        cfg = _validate(kwargs)

        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from workers.trial import result_to_dict, run_trial

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            disable=as_json,
        ) as bar:
            bars: dict[str, Any] = {}

            def on_progress(event: Any) -> None:
                if event.phase not in bars:
                    bars[event.phase] = bar.add_task(event.phase, total=event.total_steps, info="")
                m = event.metrics
                info = f"loss {m.get('loss', float('nan')):.3f}"
                if "expected_size" in m:
                    info += f" E[size] {m['expected_size']:.0f}/{m['budget']:.0f}"
                if "dev_score" in m:
                    info += f" dev {m['dev_score']:.3f}"
                bar.update(bars[event.phase], completed=event.step, info=info)

            result = _run_or_exit(run_trial, cfg, on_progress)
        if as_json:
            data = result_to_dict(result)
            data.pop("expected_size_trajectory", None)
            typer.echo(json.dumps(data, indent=2, default=str))
        else:
            _print_result(result)
