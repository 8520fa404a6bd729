"""The unified optimisation subspace of delta tunings (docs/subspace.md) as an experiment
kind: a sweep file with a ``subspace:`` section runs one experiment per task x seed.

Its sweep file is `orchestrator.sweep.subspace_config.SubspaceSweepConfig`; it runs
through `orchestrator.runner.subspace_sweep` (records in `subspace_tracking.py`), reads
back through `orchestrator.results.subspace` and reports through
`dashboards.subspace_report`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.kinds.base import ReportOptions, ResultsOptions, RunOptions
from orchestrator.results.query import SUBSPACE_SWEEP
from orchestrator.sweep.subspace_config import (
    SubspaceSweepConfig,
    is_subspace_sweep,
    load_subspace_sweep,
)

if TYPE_CHECKING:
    from orchestrator.results.client import Client
    from orchestrator.runner.outcome import SweepOutcome


class SubspaceKind:
    name = "subspace"
    sweep_tag = SUBSPACE_SWEEP

    def claims(self, raw: Mapping[str, Any]) -> bool:
        return is_subspace_sweep(raw)

    def load(self, path: Path) -> SubspaceSweepConfig:
        return load_subspace_sweep(path)

    def plan_text(self, sweep: SubspaceSweepConfig, path: Path, as_json: bool) -> str:
        keys = [f"{task}/seed{seed}" for task in sweep.tasks for seed in sweep.seeds]
        if as_json:
            return json.dumps({"sweep": sweep.sweep_name, "experiments": keys}, indent=2) + "\n"
        return f"subspace sweep {sweep.sweep_name}: {len(keys)} experiments ({', '.join(keys)})\n\n"

    def run(self, path: Path, options: RunOptions) -> SweepOutcome:
        # Ray, MLflow and the experiment code load here, not at the top: `validate` stays light
        from orchestrator.runner.subspace_sweep import run_subspace_sweep_file

        return run_subspace_sweep_file(
            path,
            run_dir=options.run_dir,
            address=options.address,
            tracking_uri=options.tracking_uri,
            resume=options.resume,
            max_retries=options.max_retries,
        )

    def results_text(self, client: Client, sweep: str, options: ResultsOptions) -> str:
        from orchestrator.results.subspace import format_tables, read_tables
        from orchestrator.results.text import plain

        tables = read_tables(client, sweep) or []
        if options.as_json:
            return json.dumps([t.to_dict() for t in tables], indent=2, default=plain) + "\n"
        return format_tables(sweep, tables) + "\n"

    def report(self, client: Client, sweep: str, options: ReportOptions) -> list[str]:
        # plotly loads here, not at the top: `validate` stays light
        from dashboards.subspace_report import write_subspace_report

        page = write_subspace_report(client, sweep, options.out)
        return [f"wrote {page} (subspace sweep: tables, transfer heatmaps, landscapes)"]
