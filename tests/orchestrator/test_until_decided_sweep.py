"""Seeds until decided, run by the driver (issue 22): a real sweep on embedded Ray adds
seeds in pairs to the s3delta and random cells until the comparison is settled, records
the verdict on the s3delta cell's run, and stops at once when the start seeds decide."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_run_support import (
    SHARED_DATA,
    finished_by_key,
    render_sweep,
    run_cli,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

pytestmark = pytest.mark.e2e
EXPERIMENT = "e2e-decided"
CLI = Path(sys.executable).parent / "s3delta"


def _run(tmp_path: Path, model: Path, name: str, n_max: int, margin: float):
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_until_decided.yaml", tmp_path, name=name, model=model, data=SHARED_DATA,
        mlflow=tracking_uri, experiment=EXPERIMENT, max=n_max, margin=margin,
    )  # fmt: skip
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    log = tmp_path / f"{name}.log"
    assert run_cli(["run", str(sweep)], env, log, timeout_s=600) == 0, log.read_text()[-4000:]
    runs = trial_runs(tracking_uri, EXPERIMENT, name)
    finals = sorted(k for k in finished_by_key(runs) if "|final|" in k)
    client = MlflowClient(tracking_uri)
    cells = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string=f"tags.`s3delta.kind` = 'cell' and tags.`s3delta.sweep` = '{name}'",
    )
    by_method = {c.data.tags["s3delta.method"]: c for c in cells}
    results = {}
    for form in ("--json", None, "--raw"):
        args = [
            str(CLI),
            "results",
            name,
            "--tracking-uri",
            tracking_uri,
            "--experiment",
            EXPERIMENT,
        ]
        done = subprocess.run(
            args + ([form] if form else []), env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[form or "text"] = done.stdout
    return finals, by_method, results


@pytest.mark.heavy
def test_seeds_are_added_in_pairs_up_to_max(tmp_path: Path, tiny_bert_dir: Path) -> None:
    # margin 0 can never be shown equivalent, and 5 seeds of tiny runs do not separate
    finals, cells, results = _run(tmp_path, tiny_bert_dir, "decided-max", n_max=5, margin=0.0)
    for method in ("s3delta", "random"):
        seeds = sorted(int(k.rsplit("=", 1)[-1]) for k in finals if f"|{method}|" in k)
        assert seeds == [1, 2, 3, 4, 5], (method, finals)  # paired: the same seeds both sides
    tags = cells["s3delta"].data.tags
    assert tags["s3delta.seeds_baseline"] == "random"
    assert tags["s3delta.seeds_verdict"] in ("undecided", "better", "worse")
    if tags["s3delta.seeds_verdict"] == "undecided":
        assert tags["s3delta.seeds_used"] == "5"
    metrics = cells["s3delta"].data.metrics
    assert metrics["seeds_ci_low"] <= metrics["seeds_ci_high"]
    assert all(c.info.status == "FINISHED" for c in cells.values())
    row = next(r for r in json.loads(results["--json"])["rows"] if r["baseline"] == "random")
    assert (row["verdict"], row["seeds_used"]) == (tags["s3delta.seeds_verdict"], 5)
    assert row["seq_ci_low"] == pytest.approx(metrics["seeds_ci_low"])
    assert f"seeds until decided: {row['verdict']} after 5 seeds" in results["text"]
    # the readable *_pct copies MLflow's table shows are not scores of their own
    assert "score_pct" not in results["--raw"] and "accuracy %" in results["--raw"]


@pytest.mark.slow
def test_a_comparison_decided_by_the_start_seeds_adds_none(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    # a margin of 1,000 points: equivalent at the first look
    finals, cells, results = _run(tmp_path, tiny_bert_dir, "decided-early", n_max=8, margin=1000.0)
    assert len(finals) == 6  # 3 start seeds x 2 cells, nothing added
    tags = cells["s3delta"].data.tags
    assert (tags["s3delta.seeds_verdict"], tags["s3delta.seeds_used"]) == ("equivalent", "3")
    row = json.loads(results["--json"])["rows"][0]
    assert (row["verdict"], row["seeds_used"]) == ("equivalent", 3)


@pytest.mark.slow
def test_a_killed_and_resumed_sweep_reaches_the_same_verdict_with_the_same_seeds(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    straight = tmp_path / "straight"
    straight.mkdir()
    finals, cells, _ = _run(straight, tiny_bert_dir, "decided-resume", n_max=6, margin=0.0)
    # the same sweep, its driver stopped once a seed beyond the start seeds has finished
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_until_decided.yaml", tmp_path, name="decided-resume", model=tiny_bert_dir,
        data=SHARED_DATA, mlflow=tracking_uri, experiment=EXPERIMENT, max=6, margin=0.0,
    )  # fmt: skip
    env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
    proc = start_cli(["run", str(sweep)], env, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            done = finished_by_key(trial_runs(tracking_uri, EXPERIMENT, "decided-resume"))
            if sum("|final|" in k for k in done) >= 7:
                break
            time.sleep(1)
    finally:
        stop_session(proc, grace_s=10)
    log = tmp_path / "resume.log"
    assert run_cli(["run", str(sweep), "--resume"], env, log, timeout_s=600) == 0, log.read_text()[
        -3000:
    ]
    runs = trial_runs(tracking_uri, EXPERIMENT, "decided-resume")
    assert sorted(k for k in finished_by_key(runs) if "|final|" in k) == finals
    assert max(finished_by_key(runs).values()) == 1  # one FINISHED run per key
    client = MlflowClient(tracking_uri)
    resumed = client.search_runs(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string="tags.`s3delta.kind` = 'cell' and tags.`s3delta.method` = 's3delta'",
    )[0]
    for tag in ("s3delta.seeds_verdict", "s3delta.seeds_used"):
        assert resumed.data.tags[tag] == cells["s3delta"].data.tags[tag]
    for metric in ("seeds_ci_low", "seeds_ci_high"):
        assert resumed.data.metrics[metric] == cells["s3delta"].data.metrics[metric]
