"""Experiment kinds: one interface (`base.ExperimentKind`) that the command line,
`run_sweep_file` and the reports dispatch through, and the registry that decides which
kind a sweep is (`registry.py`). A new kind: one module (or package) here implementing
the interface, and one `register_kind(...)` line below (docs/design.md, "Experiment
kinds"; `tests/orchestrator/test_experiment_kinds.py` adds a toy kind at test time).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.kinds.base import ExperimentKind, ReportOptions, ResultsOptions, RunOptions
from orchestrator.kinds.registry import (
    kind_named,
    kind_of,
    kind_of_file,
    kind_of_recorded,
    kinds,
    register_kind,
    unregister_kind,
)
from orchestrator.kinds.search import SearchKind
from orchestrator.kinds.subspace import SubspaceKind

if TYPE_CHECKING:
    from orchestrator.runner.outcome import SweepOutcome

register_kind(SearchKind(), default=True)
register_kind(SubspaceKind())


def run_sweep_file(
    path: str | Path,
    *,
    run_dir: str | Path | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    resume: bool = False,
    max_retries: int = 3,
) -> SweepOutcome:
    """Validate the sweep file at ``path`` (raising `SweepValidationError`) and run it as
    the kind it is: what `s3delta run` calls."""
    sweep_path = Path(path).expanduser().resolve()
    options = RunOptions(run_dir, address, tracking_uri, storage_url, resume, max_retries)
    return kind_of_file(sweep_path).run(sweep_path, options)


__all__ = [
    "ExperimentKind",
    "ReportOptions",
    "ResultsOptions",
    "RunOptions",
    "kind_named",
    "kind_of",
    "kind_of_file",
    "kind_of_recorded",
    "kinds",
    "register_kind",
    "run_sweep_file",
    "unregister_kind",
]
