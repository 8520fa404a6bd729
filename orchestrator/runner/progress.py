"""The live view of a sweep: one row per cell with trials done, best dev score and ETA.

A rich Live table on a terminal; plain log lines otherwise (e.g. `ray job submit`
logs, CI), where a redrawn table would only produce noise.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestrator.sweep.plan import Cell

PLAIN_SUMMARY_EVERY_S = 30.0
# a row's state in words for the plain log ("tune" next to "tune 0/2" read as a stutter)
STATE_TEXT = {
    "waiting": "waiting",
    "tune": "tuning",
    "final": "final seeds",
    "done": "done",
    "failed": "failed",
}


@dataclass
class CellRow:
    """What the table shows for one plan cell: its progress next to its identity."""

    cell: Cell
    tune_done: int = 0
    final_done: int = 0
    running: int = 0
    failed: int = 0
    best_dev: float | None = None
    state: str = "waiting"
    step_note: str = ""
    added_seeds: int = 0  # final seeds a sequential comparison added to the plan's

    @property
    def tune_total(self) -> int:
        return self.cell.n_tune_trials

    @property
    def final_total(self) -> int:
        return self.cell.n_final_runs + self.added_seeds


@dataclass
class SweepProgress:
    """Counts and timing for the whole sweep; `eta_s` assumes the mean trial time so far."""

    rows: list[CellRow]
    concurrency: int
    started: float = field(default_factory=time.monotonic)
    durations: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.tune_total + r.final_total for r in self.rows)

    @property
    def done(self) -> int:
        return sum(r.tune_done + r.final_done for r in self.rows)

    def eta_s(self) -> float | None:
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        remaining = self.total - self.done
        return mean * remaining / max(1, self.concurrency)


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def render_table(progress: SweepProgress, title: str) -> Table:
    """The rich table for the current state."""
    elapsed = _fmt_eta(time.monotonic() - progress.started)
    table = Table(
        title=f"{title}: {progress.done}/{progress.total} trials, elapsed {elapsed}, "
        f"ETA {_fmt_eta(progress.eta_s())}"
    )
    for column in (
        "task",
        "method",
        "budget",
        "state",
        "tune",
        "final",
        "running",
        "best dev",
        "now",
    ):
        table.add_column(column)
    for row in progress.rows:
        best = "-" if row.best_dev is None else f"{row.best_dev:.4f}"
        table.add_row(
            row.cell.task,
            row.cell.method,
            row.cell.budget_text,
            row.state,
            f"{row.tune_done}/{row.tune_total}",
            f"{row.final_done}/{row.final_total}",
            str(row.running),
            best,
            row.step_note,
        )
    return table


class ProgressView:
    """Shows `SweepProgress` live on a TTY, or as plain lines when not a TTY."""

    def __init__(self, progress: SweepProgress, title: str, stream: TextIO | None = None) -> None:
        self.progress = progress
        self.title = title
        self.stream = stream or sys.stdout
        self.live_mode = self.stream.isatty()
        self._live: Live | None = None
        self._last_summary = 0.0

    def __enter__(self) -> ProgressView:
        if self.live_mode:
            console = Console(file=self.stream)
            self._live = Live(
                render_table(self.progress, self.title), console=console, refresh_per_second=2
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(render_table(self.progress, self.title))
            self._live.__exit__(*exc)
            self._live = None
        else:
            self.summary(force=True)

    def refresh(self) -> None:
        """Redraw the table (TTY) or print a summary line every 30 s (plain)."""
        if self._live is not None:
            self._live.update(render_table(self.progress, self.title))
        else:
            self.summary()

    def line(self, text: str) -> None:
        """A one-off message (trial finished, failed, pruned)."""
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def summary(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_summary < PLAIN_SUMMARY_EVERY_S:
            return
        self._last_summary = now
        p = self.progress
        print(
            f"[{self.title}] {p.done}/{p.total} trials done, ETA {_fmt_eta(p.eta_s())}",
            file=self.stream,
            flush=True,
        )
        for row in p.rows:
            best = "-" if row.best_dev is None else f"{row.best_dev:.4f}"
            print(
                f"  {' '.join(row.cell.ident)}: {STATE_TEXT.get(row.state, row.state)}; "
                f"tuning trials {row.tune_done}/{row.tune_total}, "
                f"final seeds {row.final_done}/{row.final_total}, "
                f"running {row.running}, best dev {best}",
                file=self.stream,
                flush=True,
            )
