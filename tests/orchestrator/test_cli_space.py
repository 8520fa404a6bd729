"""`s3delta space`: counts on the real MiniLM, budgets, and bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()


def test_space_json_with_budget():
    result = runner.invoke(app, ["space", "sentence-transformers/all-MiniLM-L6-v2", "--budget", "0.01%", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["num_candidates"], data["total_size"]) == (110, 86_448)
    assert data["budget"]["params"] == 2271
    assert 0 < data["budget"]["greedy_size"] <= 2271 and 0 < data["budget"]["random_size"] <= 2271


def test_space_l_table():
    result = runner.invoke(app, ["space", "sentence-transformers/all-MiniLM-L6-v2", "--space", "L"])
    assert result.exit_code == 0
    assert "36 candidates totalling 41,472 parameters" in " ".join(result.stdout.split())


def test_space_bad_inputs():
    bad = runner.invoke(app, ["space", "sentence-transformers/all-MiniLM-L6-v2", "--budget", "abc"])
    assert bad.exit_code == 2 and "budget 'abc' is not a number" in bad.stderr
    tiny = runner.invoke(app, ["space", "sentence-transformers/all-MiniLM-L6-v2", "--budget", "10"])
    assert tiny.exit_code == 2 and "smaller than the smallest candidate" in tiny.stderr
    sp = runner.invoke(app, ["space", "x", "--space", "Q"])
    assert sp.exit_code == 2 and "unknown space 'Q'" in sp.stderr
