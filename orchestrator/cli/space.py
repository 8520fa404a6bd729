"""`s3delta space MODEL`: the candidates of a search space, their sizes and totals."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.cli.exit_codes import EXIT_INVALID

# `search_space`'s models (torch) load inside the command: the CLI imports every command
# module at start, and `validate` must not load torch.


def space_summary(model_name: str, space: str, budget: str | None, seed: int) -> dict[str, Any]:
    """Candidates and totals for ``model_name``; with a budget, a greedy and a random structure."""
    from search_space import (
        GlobalSigmoidGates,
        backbone_params,
        find_candidates,
        greedy_select,
        load_backbone,
        parse_budget,
        random_select,
    )
    from search_space.positions import candidate_records

    spec = parse_budget(budget) if budget is not None else None  # syntax first, before loading
    model, _ = load_backbone(model_name)
    cands = find_candidates(model, space)
    n_backbone = backbone_params(model)
    summary: dict[str, Any] = {
        "model": model_name,
        "space": space,
        "backbone_params": n_backbone,
        "num_candidates": len(cands),
        "total_size": sum(c.size for c in cands),
        "by_kind": {},
        "candidates": candidate_records(cands),  # as a search's candidates.json
    }
    for c in cands:
        kind = summary["by_kind"].setdefault(c.kind, {"count": 0, "size": 0})
        kind["count"] += 1
        kind["size"] += c.size
    if spec is not None:
        b = spec.resolve(n_backbone, min(c.size for c in cands))
        p = GlobalSigmoidGates([c.size for c in cands], b).probabilities().tolist()
        greedy = greedy_select(cands, p, b)
        rand = random_select(cands, b, seed)
        summary["budget"] = {
            "text": spec.text,
            "params": b,
            "greedy_size": sum(c.size for c in greedy),
            "greedy_count": len(greedy),
            "random_size": sum(c.size for c in rand),
            "random_count": len(rand),
            "random_seed": seed,
        }
    return summary


def _print_table(summary: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"{summary['model']} — space {summary['space']}")
    for col in ("candidate", "kind", "size"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for c in summary["candidates"]:
        table.add_row(c["name"], c["kind"], f"{c['size']:,}")
    console.print(table)
    kinds = ", ".join(f"{k}: {v['count']} ({v['size']:,})" for k, v in summary["by_kind"].items())
    console.print(
        f"{summary['num_candidates']} candidates totalling {summary['total_size']:,} parameters "
        f"({100 * summary['total_size'] / summary['backbone_params']:.4f}% of the "
        f"{summary['backbone_params']:,}-parameter backbone); {kinds}"
    )
    if "budget" in summary:
        b = summary["budget"]
        console.print(
            f"budget {b['text']} = {b['params']:,} parameters: greedy structure "
            f"{b['greedy_size']:,} ({b['greedy_count']} modules, gates at init), random structure "
            f"{b['random_size']:,} ({b['random_count']} modules, seed {b['random_seed']})"
        )


def register(app: typer.Typer) -> None:
    """Add `space` to the app."""

    @app.command("space")
    def space_command(
        model: Annotated[str, typer.Argument(help="Hub name or local path of the backbone.")],
        space: Annotated[str, typer.Option("--space", help="M (mixed, default) or L (rank-1 LoRA).")] = "M",
        budget: Annotated[str | None, typer.Option(help="e.g. 0.01% or 20000")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the random structure.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List a backbone's delta candidates; with --budget, size a greedy and a random structure."""
        from search_space import BudgetError, UnsupportedModelError

        if space not in ("M", "L"):
            typer.echo(f"--space: unknown space {space!r}; use M (mixed) or L (rank-1 LoRA)", err=True)
            raise typer.Exit(EXIT_INVALID)
        try:
            summary = space_summary(model, space, budget, seed)
        except (BudgetError, UnsupportedModelError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
        else:
            _print_table(summary)
