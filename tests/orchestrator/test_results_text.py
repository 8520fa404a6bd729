"""`s3delta results --raw` prints a table for people; --json and --csv stay for machines."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.compare_store import CompareStore, write_compare_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CompareStore:
    return write_compare_store(tmp_path_factory.mktemp("results_text_store"))


def _lines(store: CompareStore, *extra: str) -> list[str]:
    common = ["--tracking-uri", store.tracking_uri]
    result = CliRunner().invoke(app, ["results", store.sweep, "--raw", *common, *extra])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _row(lines: list[str], task: str, method: str, budget: str) -> list[str]:
    for line in lines:
        cells = line.split()
        if cells[:3] == [task, method, budget]:
            return cells
    raise AssertionError(f"no row {task} {method} {budget} in:\n" + "\n".join(lines))


def test_raw_scores_are_percent_with_plus_minus_seeds_and_separated_sizes(
    store: CompareStore,
) -> None:
    lines = _lines(store)
    header = next(line for line in lines if line.startswith("task"))
    assert header.split()[:5] == ["task", "method", "budget", "seeds", "test"]
    assert "accuracy %" in header and "delta params" in header
    # seeds 81, 82, 83 points: mean 82.0, sample std 1.0
    s3 = " ".join(_row(lines, "glue/sst2", "s3delta", "0.01%"))
    assert s3.startswith("glue/sst2 s3delta 0.01% 3 82.0 ± 1.0") and "1,900" in s3
    # 84, 84 and a failed seed; fine-tuning's size has thousands separators
    random = " ".join(_row(lines, "glue/sst2", "random", "0.05%"))
    assert random.startswith("glue/sst2 random 0.05% 2 +1 failed 84.0 ± 0.0")
    assert "20,000,000" in " ".join(_row(lines, "glue/sst2", "finetune", "none"))
    assert not any("0.8200" in line or "NaN" in line for line in lines)


def test_raw_csv_keeps_the_machine_columns(store: CompareStore) -> None:
    text = "\n".join(_lines(store, "--csv"))
    records = list(csv.DictReader(io.StringIO(text)))
    cell = next(
        r
        for r in records
        if (r["task"], r["method"], r["budget"]) == ("glue/sst2", "s3delta", "0.01%")
    )
    assert float(cell["test_score_mean"]) == pytest.approx(0.82, abs=1e-9)
    result = CliRunner().invoke(app, ["results", store.sweep, "--csv"])
    assert result.exit_code == 1 and "--raw" in result.output


def test_text_tables_are_aligned_by_one_helper() -> None:
    from orchestrator.results.subspace import Stat, SubspaceTable, format_tables
    from orchestrator.results.text import aligned

    lines = aligned(["task", "n", "score [%]"], [["glue/sst2", "3", "82.0 ± 1.0"]], left=1)
    assert lines == ["task       n   score [%]", "glue/sst2  3  82.0 ± 1.0"]
    one = Stat(0.8, 0.01, 2)
    pct = Stat(90.0, 1.0, 2)
    table = SubspaceTable(
        task="glue/sst2",
        dets=["lora", "adapter"],
        seeds=[1, 2],
        sizes={"lora": 1536, "adapter": 1540},
        original={"lora": one, "adapter": one},
        subspace={"lora": one, "adapter": Stat(float("nan"), float("nan"), 0)},
        subspace_pct={"lora": pct, "adapter": pct},
        transfer_pct=[[pct, pct], [pct, pct]],
        d=4,
        means={"subspace_pct": pct, "transfer_pct": pct},
    )
    text = format_tables("sub", [table]).splitlines()
    assert text[2] == "glue/sst2 (d = 4, seeds 1, 2; test scores, selected on dev)"
    assert text[3].split() == ["DET", "size", "original", "subspace", "%", "of", "original"]
    assert text[4] == "  lora     1,536  80.0 ± 1.0  80.0 ± 1.0    90.0% ± 1.0"
    assert text[5].endswith("-    90.0% ± 1.0")
    assert text[7].split() == ["lora", "adapter"]
