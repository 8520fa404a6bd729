"""`s3delta subspace`: one subspace experiment in this process (stage 0, 1, 2, transfer
and the landscape), with progress bars and result tables."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.cli.in_process import apply_sets, phase_bars, run_or_exit, validated
from orchestrator.quiet import quiet_libraries

# `workers.subspace` (torch) loads inside the command: the CLI imports every command
# module at start, and `validate` must not load torch.


def _validate(kwargs: dict[str, Any]) -> Any:
    """Build and check the config (DETs, sizes, d, steps) before any data or weights load."""
    from workers.subspace import SubspaceConfig, SubspaceSetupError, check_config

    def build() -> SubspaceConfig:
        cfg = SubspaceConfig(**kwargs)
        check_config(cfg)
        return cfg

    return validated(build, (SubspaceSetupError,))


def _stage_info(m: dict[str, float]) -> str:
    info = f"loss {m['loss']:.3f}" if "loss" in m else ""
    if "recon" in m:
        info += f" recon {m['recon']:.3f}"
    if "dev_score" in m:
        info += f" dev {m['dev_score']:.3f}"
    return info


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{value:.1f}%"


def _print_result(result: Any) -> None:
    cfg = result.config
    console = Console()
    table = Table(title=f"{cfg['task']} — subspace d={result.d} (seed {cfg['seed']})")
    for column in ("DET", "size", "original", "subspace", "% of original"):
        table.add_column(column, justify="left" if column == "DET" else "right")
    for det in result.dets:
        table.add_row(
            f"{det.name} ({det.knob} {det.value})",
            f"{det.delta_size:,} (+{det.head_size:,} head)",
            f"{det.original_test:.4f}",
            f"{det.subspace_test:.4f}",
            _pct(det.subspace_pct),
        )
    console.print(table)
    matrix = Table(
        title="transfer: v found through row's decoder, decoded by column's (% of its own score)"
    )
    matrix.add_column("from \\ to")
    for name in result.names:
        matrix.add_column(name, justify="right")
    for name, row in zip(result.names, result.transfer_pct, strict=True):
        matrix.add_row(name, *(_pct(v) for v in row))
    console.print(matrix)
    console.print(
        f"mean subspace {_pct(result.subspace_pct_mean)} (paper, T5-base: 84.9%), mean transfer "
        f"{_pct(result.transfer_pct_mean)} (paper: 82.6%); scores on the test split, selected on "
        f"dev; {result.wall_time_s:.0f} s on {result.device}"
    )
    for name, path in result.artifacts.items():
        console.print(f"{name}: {path}")


def register(app: typer.Typer) -> None:
    """Add `subspace` to the app."""

    @app.command("subspace")
    def subspace_command(
        model: Annotated[
            str, typer.Option(help="Hub name or local path.")
        ] = "sentence-transformers/all-MiniLM-L6-v2",
        task: Annotated[
            str, typer.Option(help="e.g. glue/sst2, glue/rte, glue/stsb")
        ] = "glue/sst2",
        seed: Annotated[int, typer.Option()] = 1,
        data_dir: Annotated[
            str | None,
            typer.Option(help="Folder with glue/ and superglue/ official files; default: the hub."),
        ] = None,
        dets: Annotated[
            str, typer.Option(help="Comma-separated DETs: adapter, lora, prefix.")
        ] = "adapter,lora,prefix",
        target_size: Annotated[
            int, typer.Option(help="Trainable size every DET is matched to (within 1%).")
        ] = 69_120,
        d: Annotated[int, typer.Option("--d", help="Subspace dimension.")] = 4,
        stage0_steps: Annotated[int | None, typer.Option()] = None,
        stage1_steps: Annotated[int | None, typer.Option()] = None,
        stage2_steps: Annotated[int | None, typer.Option()] = None,
        stage1_lr: Annotated[float | None, typer.Option()] = None,
        stage2_lr: Annotated[float | None, typer.Option()] = None,
        grid_size: Annotated[
            int | None, typer.Option(help="Landscape points per side (0: no landscape).")
        ] = None,
        max_train_examples: Annotated[int | None, typer.Option()] = None,
        max_eval_examples: Annotated[int | None, typer.Option()] = None,
        out: Annotated[
            str | None,
            typer.Option(
                help="Folder for codecs.safetensors, v.safetensors, grid.json, result.json."
            ),
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="Any SubspaceConfig field, e.g. --set recon_weight=0.1"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Run one subspace experiment (Yi et al. 2022) in this process: train the DETs,
        find their shared subspace, optimise in it, transfer, draw the landscape."""
        kwargs: dict[str, Any] = dict(
            model=model,
            task=task,
            seed=seed,
            data_dir=data_dir,
            dets=tuple(x.strip() for x in dets.split(",") if x.strip()),
            target_size=target_size,
            d=d,
            output_dir=out,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
        )
        optional = dict(
            stage0_steps=stage0_steps,
            stage1_steps=stage1_steps,
            stage2_steps=stage2_steps,
            stage1_lr=stage1_lr,
            stage2_lr=stage2_lr,
            grid_size=grid_size,
        )
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        apply_sets(kwargs, set_, "d=8")
        cfg = _validate(kwargs)
        from workers.subspace import result_to_dict, run_subspace  # torch: see the top

        quiet_libraries()  # s3delta's own bars only (no "Loading weights" lines in --json)
        with phase_bars(as_json, _stage_info) as on_progress:
            result = run_or_exit(lambda: run_subspace(cfg, on_progress))
        if as_json:
            data = result_to_dict(result)
            data["stages"].pop("history", None)
            typer.echo(json.dumps(data, indent=2, default=str))
        else:
            _print_result(result)
