"""The experiment-kind interface: what a kind of sweep file brings to the service.

A kind (the structure search, the unified subspace, a third one) loads and validates
its sweep file, says what validate prints (its plan), runs the sweep (planning its jobs,
executing them on Ray workers and recording them in MLflow, under the guards every kind
shares: `orchestrator.runner.launch`), reads its results back and writes its report.
The command line, `run_sweep_file` and the report ask the registry (`registry.py`)
which kind a file or a recorded sweep is, and only the kind knows what it holds.

Kinds are light to import: `validate` must not load MLflow, Ray or torch, so a kind
imports its runner, reader and report inside the methods that need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from orchestrator.results.client import Client
    from orchestrator.runner.outcome import SweepOutcome


@dataclass(frozen=True)
class RunOptions:
    """Where and how `s3delta run` runs a sweep (None: the file's or the default)."""

    run_dir: str | Path | None = None
    address: str | None = None
    tracking_uri: str | None = None
    storage_url: str | None = None
    resume: bool = False
    max_retries: int = 3


@dataclass(frozen=True)
class ResultsOptions:
    """What `s3delta results` was asked for."""

    raw: bool = False
    baseline: str | None = None  # None: the sweep's seeds.baseline, else random
    as_json: bool = False
    as_csv: bool = False


@dataclass(frozen=True)
class ReportOptions:
    """What `s3delta report` was asked for."""

    out: Path
    log: bool = True
    png: bool = True


class ExperimentKind(Protocol):
    """One kind of sweep file; `registry.register_kind` adds it to the service."""

    name: str  # e.g. "search", "subspace"
    sweep_tag: str  # the `s3delta.kind` tag of its sweep's MLflow run

    def claims(self, raw: Mapping[str, Any]) -> bool:
        """Whether this parsed sweep file is of this kind (the default kind claims none)."""
        ...

    def load(self, path: Path) -> Any:
        """The validated sweep; raises `SweepValidationError` listing every problem."""
        ...

    def plan_text(self, sweep: Any, path: Path, as_json: bool) -> str:
        """What `s3delta validate` prints for a valid file: its plan, as text or JSON;
        raises `SweepValidationError` for problems only visible now (the stores)."""
        ...

    def run(self, path: Path, options: RunOptions) -> SweepOutcome:
        """Validate, plan, execute and record the sweep in ``path``."""
        ...

    def results_text(self, client: Client, sweep: str, options: ResultsOptions) -> str:
        """What `s3delta results` prints; raises `ResultsError` when it cannot answer."""
        ...

    def report(self, client: Client, sweep: str, options: ReportOptions) -> list[str]:
        """Write the sweep's report; the lines `s3delta report` prints."""
        ...
