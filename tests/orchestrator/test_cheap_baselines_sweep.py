"""A real sweep with ``uniform`` and ``random-mask`` (issue 20): both planned, run on
embedded Ray, recorded in MLflow (uniform with its structure, random-mask with the tag
``s3delta.mask_sha256``), and paired with s3delta by `s3delta results --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    expected_keys,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    trial_runs,
)

pytestmark = pytest.mark.e2e
EXPERIMENT = "e2e-cheap"
METHODS = ["s3delta", "uniform", "random-mask"]
CLI = Path(sys.executable).parent / "s3delta"


@pytest.mark.slow
def test_uniform_and_random_mask_run_are_recorded_and_compared(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    name = "cheap"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_one_budget.yaml", tmp_path, name=name, model=tiny_bert_dir, data=SHARED_DATA,
        storage=None, mlflow=tracking_uri, experiment=EXPERIMENT, steps=4,
        methods="[" + ", ".join(METHODS) + "]",
    )  # fmt: skip
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    log = tmp_path / "run.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=600) == 0, log.read_text()[-4000:]

    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    assert set(finished_by_key(runs)) == expected_keys(name, METHODS, ["1%"], [1, 2])
    finals = {
        (r.data.tags["s3delta.method"], r.data.tags["s3delta.key"].rsplit("|", 1)[-1]): r
        for r in runs
        if "|final|" in r.data.tags["s3delta.key"]
    }
    hashes = {
        seed: run.data.tags.get("s3delta.mask_sha256")
        for (m, seed), run in finals.items()
        if m == "random-mask"
    }
    assert all(h and len(h) == 64 for h in hashes.values()) and len(set(hashes.values())) == 2
    for (method, _), run in finals.items():
        size, budget = run.data.metrics["delta_params"], run.data.metrics["budget_params"]
        assert 0 < size <= budget
        if method == "random-mask":
            assert size == budget  # exactly the budget's count

    done = subprocess.run(
        [str(CLI), "results", name, "--json", "--tracking-uri", tracking_uri,
         "--experiment", EXPERIMENT],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    rows = data["rows"] if isinstance(data, dict) else data
    baselines = {r["baseline"] for r in rows if r.get("task") == "glue/sst2"}
    assert {"uniform", "random-mask"} <= baselines
