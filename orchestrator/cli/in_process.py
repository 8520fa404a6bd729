"""What the in-process commands (`s3delta trial`, `s3delta subspace`) share: the config
checked before anything loads, `--set NAME=VALUE`, progress bars, and failures as one
line with an exit code (S3DELTA_DEBUG=1 for the traceback)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from orchestrator.cli.exit_codes import EXIT_FAILED, EXIT_INVALID

T = TypeVar("T")


def validated(build: Callable[[], T], setup_errors: tuple[type[Exception], ...]) -> T:
    """``build()``, or exit 2 with pydantic's errors as ``--flag: message`` lines and a
    setup error as ``error: message``."""
    try:
        return build()
    except ValidationError as exc:
        lines = [
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        ]
        typer.echo("\n".join(lines), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except setup_errors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def apply_sets(kwargs: dict[str, Any], items: list[str] | None, example: str) -> None:
    """``--set NAME=VALUE`` into ``kwargs``; VALUE is JSON when it parses, else a string."""
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"--set {item!r}: write NAME=VALUE, e.g. --set {example}", err=True)
            raise typer.Exit(EXIT_INVALID)
        try:
            kwargs[name] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[name] = value


@contextmanager
def phase_bars(
    disable: bool, info: Callable[[dict[str, float]], str]
) -> Iterator[Callable[[Any], None]]:
    """A progress bar per phase; yields the ``on_progress`` callback that feeds them."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        disable=disable,
    ) as bar:
        bars: dict[str, Any] = {}

        def on_progress(event: Any) -> None:
            if event.phase not in bars:
                bars[event.phase] = bar.add_task(event.phase, total=event.total_steps, info="")
            bar.update(bars[event.phase], completed=event.step, info=info(event.metrics))

        yield on_progress


def run_or_exit(run: Callable[[], T]) -> T:
    """``run()``; an exception is one line on stderr and exit 1."""
    try:
        return run()
    except Exception as exc:
        if os.environ.get("S3DELTA_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or "no message"
        typer.echo(f"error: {type(exc).__name__}: {message[:1000]}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
