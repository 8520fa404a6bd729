"""`s3delta trial`: run one trial in this process, with a progress bar and a result table."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.cli.exit_codes import EXIT_FAILED
from orchestrator.cli.in_process import apply_sets, phase_bars, run_or_exit, validated
from orchestrator.quiet import quiet_libraries
from orchestrator.runner.result_checks import non_finite_reason
from search_space import BudgetError
from workers.data import UnknownTaskError
from workers.methods import UnknownMethodError
from workers.trial_types import TrialConfig

# `workers.trial` (torch) loads inside the command: the CLI imports every command module
# at start, and `validate` must not load torch.


def _validate(cfg_kwargs: dict[str, Any]) -> Any:
    """Build and check the config before any model or data is loaded."""
    from workers.trial import TrialSetupError, _check
    def build() -> TrialConfig:
        cfg = TrialConfig(**cfg_kwargs)
        _check(cfg)
        return cfg

    return validated(build, (BudgetError, UnknownTaskError, UnknownMethodError, TrialSetupError))


def _checked(result: Any) -> Any:
    """A diverged result (NaN or infinite scores) is one line on stderr and exit 1."""
    reason = non_finite_reason(result)
    if reason:
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(EXIT_FAILED)
    return result


def _trial_info(m: dict[str, float]) -> str:
    info = f"loss {m.get('loss', float('nan')):.3f}"
    if "expected_size" in m:
        info += f" E[size] {m['expected_size']:.0f}/{m['budget']:.0f}"
    if "dev_score" in m:
        info += f" dev {m['dev_score']:.3f}"
    return info


def _print_result(result: Any) -> None:
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
        keep: Annotated[
            bool,
            typer.Option(
                "--keep",
                help="Without --out: keep the temporary folder with the trial's files "
                "(removed at the end otherwise).",
            ),
        ] = False,
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
        apply_sets(kwargs, set_, "delta_lr=0.01")
        cfg = _validate(kwargs)

        from workers.trial import result_to_dict, run_trial

        quiet_libraries()  # s3delta's own bars only (no "Loading weights" bars in --json)
        scratch = None
        if cfg.output_dir is None:  # the trial's files go to a folder removed at the end
            scratch = Path(tempfile.mkdtemp(prefix="s3delta-trial-"))
            cfg = cfg.model_copy(update={"output_dir": str(scratch)})
        try:
            with phase_bars(as_json, _trial_info) as on_progress:
                result = _checked(run_or_exit(lambda: run_trial(cfg, on_progress)))
            if scratch is not None and not keep:
                result.artifacts = {}  # about to be removed: do not print their paths
            if as_json:
                data = result_to_dict(result)
                data.pop("expected_size_trajectory", None)
                typer.echo(json.dumps(data, indent=2, default=str))
            else:
                _print_result(result)
                if scratch is not None and not keep:
                    typer.echo(
                        "(the trial's files were in a temporary folder, now removed: "
                        "--out DIR or --keep keeps them)"
                    )
        finally:
            if scratch is not None and not keep:
                shutil.rmtree(scratch, ignore_errors=True)
