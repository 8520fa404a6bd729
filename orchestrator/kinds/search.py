"""The structure search (S3Delta against its baselines): the default experiment kind.

Its sweep file is `orchestrator.sweep.SweepConfig` (cells task x method x budget, each
tuned by Optuna, then run on every seed); it runs through `orchestrator.runner.entry`
(the driver, trials on Ray, records in `orchestrator.runner.tracking`), reads back
through `orchestrator.results` (the paired comparison, costs) and reports through
`dashboards.report`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.kinds.base import ReportOptions, ResultsOptions, RunOptions
from orchestrator.paths import PathSettingError
from orchestrator.results.query import SEARCH_SWEEP
from orchestrator.sweep import SweepConfig, SweepValidationError, build_plan, load_sweep
from orchestrator.sweep.stores import store_problems

if TYPE_CHECKING:
    from orchestrator.results.client import Client
    from orchestrator.runner.outcome import SweepOutcome


class SearchKind:
    name = "search"
    sweep_tag = SEARCH_SWEEP

    def claims(self, raw: Mapping[str, Any]) -> bool:
        return False  # the default kind: every file no other kind claims

    def load(self, path: Path) -> SweepConfig:
        return load_sweep(path)

    def plan_text(self, sweep: SweepConfig, path: Path, as_json: bool) -> str:
        try:  # the MLflow store and Optuna storage can be created or reached
            problems = store_problems(sweep.tracking_uri, sweep.storage_url)
        except PathSettingError as err:
            problems = [str(err)]
        if problems:
            raise SweepValidationError(str(path), problems)
        plan = build_plan(sweep)
        return json.dumps(plan.to_dict(), indent=2) + "\n" if as_json else plan.render()

    def run(self, path: Path, options: RunOptions) -> SweepOutcome:
        # Ray, MLflow and the trial code load here, not at the top: `validate` stays light
        from orchestrator.runner.entry import run_search_sweep_file

        return run_search_sweep_file(
            path,
            run_dir=options.run_dir,
            address=options.address,
            tracking_uri=options.tracking_uri,
            storage_url=options.storage_url,
            resume=options.resume,
            max_retries=options.max_retries,
        )

    def results_text(self, client: Client, sweep: str, options: ResultsOptions) -> str:
        # the reader's tables (pandas) and texts load here: `validate` stays light
        from orchestrator.results.costs import cost_text
        from orchestrator.results.run_ids import run_ids
        from orchestrator.results.text import format_comparison, format_raw, plain, verdict
        from workers.methods import RANDOM_METHOD

        if options.raw:
            table = client.results(sweep)
            if options.as_json:
                records = [{k: plain(v) for k, v in r.items()} for r in table.to_dict("records")]
                return json.dumps(records, indent=2) + "\n"
            if options.as_csv:
                return str(table.to_csv(index=False))
            if table.empty:
                return f"sweep {sweep!r} has no final trials yet\n"
            return format_raw(table, sweep) + "\n"
        comparison = client.compare(sweep, baseline=options.baseline)
        costs = client.costs(sweep, comparison if comparison.baseline == RANDOM_METHOD else None)
        if options.as_json:
            data = {
                "sweep": sweep,
                "method": comparison.method,
                "baseline": comparison.baseline,
                "rows": comparison.to_records(),
                "notes": list(comparison.notes),
                "verdict": verdict(comparison),
                "costs": costs.to_dict(),
                **run_ids(client, sweep),  # what `s3delta export` takes
            }
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        text = format_comparison(comparison, sweep) + "\n"
        if not costs.cells.empty:  # stores from before cost accounting have none
            text += "\n" + cost_text(costs) + "\n"
        return text

    def report(self, client: Client, sweep: str, options: ReportOptions) -> list[str]:
        # plotly and the browser export load here, not at the top: `validate` stays light
        from dashboards.png_export import NO_PNG_PREFIX
        from dashboards.report import write_report

        files = write_report(
            client, sweep, options.out, log_to_mlflow=options.log, pngs=options.png
        )
        png_notes = [n for n in files.notes if n.startswith(NO_PNG_PREFIX)]
        if files.pngs:
            lines = [f"wrote {files.html} and {len(files.pngs)} PNGs in {options.out / 'png'}"]
        elif png_notes:
            lines = [f"wrote {files.html}; {png_notes[0]}"]  # one line: why, and how to get them
        else:
            lines = [f"wrote {files.html}"]
        if files.logged_to_run:
            lines.append(f"logged to run {files.logged_to_run} under report/")
        lines += [f"note: {note}" for note in files.notes if note not in png_notes]
        return lines
