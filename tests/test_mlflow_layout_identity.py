"""benchmarks/mlflow_layout_identity.py: its dump of a tiny hand-made store and its compare."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "mlflow_layout_identity.py"


@pytest.fixture(scope="module")
def layout():
    spec = importlib.util.spec_from_file_location("mlflow_layout_identity", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _store(tmp: Path, lr: str, score: float, extra_tag: bool = False) -> str:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("s3delta", artifact_location=(tmp / "art").as_uri())
    sweep = client.create_run(
        exp,
        run_name="quick",
        tags={
            "s3delta.kind": "sweep",
            "s3delta.sweep": "quick",
            "s3delta.git_commit": "abc",
            "s3delta.run_dir": str(tmp / "run"),
            "s3delta.resumed_at": "2026-01-02T03:04:05",
        },
    ).info.run_id
    tags = {
        "s3delta.kind": "trial",
        "s3delta.key": "quick|t|s3delta|1%|final|seed=1",
        "mlflow.parentRunId": sweep,
        "s3delta.local.output_dir": str(tmp / "run" / "x"),
    }
    if extra_tag:
        tags["s3delta.state"] = "ok"
    trial = client.create_run(exp, run_name="t s3delta seed 1", tags=tags).info.run_id
    client.log_param(trial, "delta_lr", lr)
    client.log_batch(
        trial,
        metrics=[Metric("search/loss", 0.5 + step, 0, step) for step in (0, 15, 30)]
        + [Metric("dev_score", score, 0, 0), Metric("wall_time_s", 12.0 + score, 0, 0)],
    )
    client.set_terminated(trial)
    client.set_terminated(sweep)
    return uri


def test_dump_masks_what_varies_and_compare_finds_changes(layout, tmp_path):
    one, two = tmp_path / "a", tmp_path / "b"
    for d in (one, two):
        d.mkdir()
    a = layout.dump(_store(one, "0.01", 0.8125), layout.Scrub(one, None))
    c = layout.dump(_store(two, "0.02", 0.8, extra_tag=True), layout.Scrub(two, None))

    trial = a["runs"]["quick|t|s3delta|1%|final|seed=1"]
    assert set(a["runs"]) == {"sweep|quick", "quick|t|s3delta|1%|final|seed=1"}
    assert trial["parent"] == "sweep|quick"
    assert trial["tags"]["s3delta.local.output_dir"] == "<tmp>/run/x"
    assert trial["metrics"]["search/loss"]["steps"] == [0, 15, 30]
    assert trial["metrics"]["wall_time_s"]["values"] == "<masked>"
    assert trial["metrics"]["dev_score"]["values"] == [0.8125]
    sweep_tags = a["runs"]["sweep|quick"]["tags"]
    assert sweep_tags["s3delta.git_commit"] == "<commit>"
    assert sweep_tags["s3delta.resumed_at"] == "<masked>"
    assert a["experiments"]["s3delta"]["artifact_location"] == "file://<tmp>/art"

    b = copy.deepcopy(a)  # a last-digit float apart
    b["runs"]["quick|t|s3delta|1%|final|seed=1"]["metrics"]["dev_score"]["values"] = [
        0.8125 * (1 + 1e-12)
    ]
    lines, bad = layout.compare_layouts(a, b)
    assert bad == 0 and any("last digits: metric changed: dev_score" in x for x in lines)
    lines, bad = layout.compare_layouts(a, c)
    assert bad == 1
    text = "\n".join(lines)
    assert "params changed: delta_lr: '0.01' -> '0.02'" in text
    assert "tags added: s3delta.state='ok'" in text
    assert "metric changed: dev_score: 0.8125 -> 0.8" in text

    for name, data in (("a.json", a), ("c.json", c)):
        (tmp_path / name).write_text(json.dumps(data))
    assert layout.compare(tmp_path / "a.json", tmp_path / "a.json") == 0
    assert layout.compare(tmp_path / "a.json", tmp_path / "c.json") == 1
    c["runs"].pop("quick|t|s3delta|1%|final|seed=1")
    lines, bad = layout.compare_layouts(a, c)
    assert "run quick|t|s3delta|1%|final|seed=1: only in A" in lines
