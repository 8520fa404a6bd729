"""Experiment kinds: a third kind plugs in with one registration line, and the command
line (validate, run, results, report) dispatches to it; nothing outside the registry
decides which kind a sweep is. No Ray: the toy kind runs in this process."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.entities import Metric
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.kinds import (
    ReportOptions,
    ResultsOptions,
    RunOptions,
    kind_of,
    kind_of_file,
    register_kind,
    unregister_kind,
)
from orchestrator.results.client import Client
from orchestrator.results.query import KIND_TAG, SWEEP_TAG, tags_filter
from orchestrator.runner.outcome import SweepOutcome
from orchestrator.runner.writer import MlflowWriter
from orchestrator.sweep import SweepValidationError

REPO = Path(__file__).resolve().parents[2]


class ToyKind:
    """Counts to ``toy.n``: one sweep run with one metric."""

    name = "toy"
    sweep_tag = "toy-sweep"

    def claims(self, raw: Mapping[str, Any]) -> bool:
        return "toy" in raw

    def load(self, path: Path) -> dict[str, Any]:
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw["toy"].get("n"), int):
            raise SweepValidationError(str(path), ["toy.n: must be a whole number; e.g. n: 3"])
        return raw

    def plan_text(self, sweep: dict[str, Any], path: Path, as_json: bool) -> str:
        return f"toy sweep {sweep['name']}: count to {sweep['toy']['n']}\n"

    def run(self, path: Path, options: RunOptions) -> SweepOutcome:
        sweep = self.load(path)
        uri = options.tracking_uri or ""
        writer = MlflowWriter(uri, "toys")
        run = writer.client.create_run(
            writer.experiment_id, tags={KIND_TAG: self.sweep_tag, SWEEP_TAG: sweep["name"]}
        )
        writer.log_batches(run.info.run_id, metrics=[Metric("count", sweep["toy"]["n"], 0, 0)])
        writer.client.set_terminated(run.info.run_id)
        outcome = SweepOutcome(sweep["name"], run.info.run_id, path.parent, uri)
        outcome.ok = int(sweep["toy"]["n"])
        return outcome

    def results_text(self, client: Client, sweep: str, options: ResultsOptions) -> str:
        query = tags_filter({KIND_TAG: self.sweep_tag, SWEEP_TAG: sweep})
        run = client.mlflow.search_runs([client.experiment_id], filter_string=query)[0]
        return f"toy {sweep} counted to {run.data.metrics['count']:.0f}\n"

    def report(self, client: Client, sweep: str, options: ReportOptions) -> list[str]:
        return [f"toy report of {sweep} in {options.out}"]


@pytest.fixture
def toy() -> Iterator[ToyKind]:
    kind = register_kind(ToyKind())  # the one line a third kind adds
    try:
        yield kind  # type: ignore[misc]
    finally:
        unregister_kind("toy")


def test_a_toy_kind_runs_through_validate_run_results_and_report(
    toy: ToyKind, tmp_path: Path
) -> None:
    path = tmp_path / "count.yaml"
    path.write_text("name: count\ntoy: {n: 3}\n")
    assert kind_of_file(path) is toy
    runner = CliRunner()
    shown = runner.invoke(app, ["validate", str(path)])
    assert (shown.exit_code, shown.stdout) == (0, "toy sweep count: count to 3\n")
    (tmp_path / "bad.yaml").write_text("name: bad\ntoy: {n: many}\n")
    bad = runner.invoke(app, ["validate", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2 and "toy.n: must be a whole number" in bad.output

    uri = f"sqlite:///{tmp_path}/m.db"
    ran = runner.invoke(app, ["run", str(path), "--tracking-uri", uri])
    assert ran.exit_code == 0, ran.output
    assert "sweep count: 3 trials finished" in ran.output
    common = ["--tracking-uri", uri, "--experiment", "toys"]
    results = runner.invoke(app, ["results", "count", *common])
    assert (results.exit_code, results.stdout) == (0, "toy count counted to 3\n")
    report = runner.invoke(app, ["report", "count", *common, "--out", str(tmp_path / "r")])
    assert report.exit_code == 0 and report.stdout.startswith("toy report of count in ")


def test_files_of_the_two_built_in_kinds_go_to_their_kind(toy: ToyKind) -> None:
    assert kind_of({"name": "x", "methods": ["s3delta"]}).name == "search"
    assert kind_of({"name": "x", "subspace": {"d": 4}}).name == "subspace"
    assert kind_of(["not", "a", "mapping"]).name == "search"  # its loader says what is wrong
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples and all(kind_of_file(p).name in ("search", "subspace") for p in examples)


def test_nothing_outside_the_kinds_asks_which_kind_a_sweep_is() -> None:
    """The questions a kind answers for itself (is this file / this run of my kind?) are
    asked only by the kinds: the command line, runner and client dispatch through them."""
    asks = re.compile(r"\b(is_subspace_sweep|find_subspace_sweep|subspace_results)\(")
    allowed = {
        "orchestrator/kinds/subspace.py",
        "orchestrator/sweep/subspace_config.py",  # defines is_subspace_sweep
        "orchestrator/results/subspace.py",  # defines find_subspace_sweep
        "dashboards/subspace_report.py",  # the subspace kind's own report
    }
    found = [
        str(path.relative_to(REPO))
        for package in ("orchestrator", "dashboards")
        for path in sorted((REPO / package).rglob("*.py"))
        if asks.search(path.read_text()) and str(path.relative_to(REPO)) not in allowed
    ]
    assert found == []
