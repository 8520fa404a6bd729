"""`s3delta subspace`: config errors as one line naming the flag/field, and a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.conftest import SHARED_DATA


def _args(model_dir: Path, *extra: str) -> list[str]:
    return [
        "subspace",
        "--model", str(model_dir), "--task", "glue/sst2", "--data-dir", str(SHARED_DATA),
        "--target-size", "5328", "--stage0-steps", "4", "--stage1-steps", "2",
        "--stage2-steps", "4", "--grid-size", "2", "--max-train-examples", "32",
        "--max-eval-examples", "16",
        "--set", "eval_every=2", "--set", "stage2_eval_every=2", "--set", "max_length=24",
        "--set", "grid_eval_examples=8", "--set", "num_threads=1",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--dets", "lora"], "error: dets: ['lora'] has 1 DET"),
        (["--dets", "lora,ia3"], "error: dets: unknown DET 'ia3'; fix: use"),
        (["--d", "0"], "error: d: 0 is not a dimension; fix:"),
        (["--target-size", "6000"], "error: target_size: 6,000 cannot be matched within 1%"),
        (["--set", "stage2_lr=fast"], "--stage2-lr: Input should be a valid number"),
    ],
)
def test_bad_flags_are_one_line_before_any_work(tiny_bert_dir, flags, expected) -> None:
    result = CliRunner().invoke(app, [*_args(tiny_bert_dir, "--data-dir", "/nonexistent"), *flags])
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_a_tiny_experiment_prints_json_with_percentages(tiny_bert_dir, tmp_path) -> None:
    result = CliRunner().invoke(app, [*_args(tiny_bert_dir, "--out", str(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["name"] for d in data["dets"]] == ["adapter", "lora", "prefix"]
    assert len(data["transfer_pct"]) == 3 and len(data["grid"]["scores"][0]) == 2
    assert (tmp_path / "result.json").is_file() and (tmp_path / "codecs.safetensors").is_file()
