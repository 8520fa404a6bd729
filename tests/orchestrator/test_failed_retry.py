"""Issue 23, fault 3: failed trials are retried by `--resume` and never hidden.

A sweep whose training file is broken (a data error) fails its tuning trials: it exits 1,
its cell and sweep runs end FAILED tagged `incomplete: 2 failed`, and `s3delta runs`
says so. `--resume --no-retry-failed` reruns nothing and still exits 1. Once the file is
fixed, `--resume` reruns the failed trials under their own numbers and keys, and the sweep
ends with exactly one FINISHED run per key.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    VENV_BIN,
    expected_keys,
    finished_by_key,
    render_sweep,
    service_env,
    start_cli,
    stop_session,
    trial_runs,
)

EXPERIMENT = "e2e-failed-retry"
NAME = "broken"


def _run(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    proc = start_cli(args, env, log)
    try:
        rc = proc.wait(timeout=400)
    finally:
        stop_session(proc, grace_s=5)
    return rc, log.read_text()


def _runs_row(env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(VENV_BIN / "s3delta"), "runs"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return next(line for line in out.stdout.splitlines() if line.startswith(NAME))


def _cell_and_sweep(tracking_uri: str) -> dict[str, tuple[str, str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`s3delta.kind` != 'trial'"
    )
    return {
        r.data.tags["s3delta.kind"]: (r.info.status, r.data.tags.get("s3delta.state", ""))
        for r in runs
    }


def test_results_show_a_cell_whose_tuning_failed_with_its_failures() -> None:
    import pandas as pd

    from orchestrator.results.client import results_table

    def row(method: str, phase: str, status: str, seed: int, score: float | None) -> dict:
        return {
            "task": "glue/sst2",
            "method": method,
            "budget": "1%",
            "phase": phase,
            "status": status,
            "seed": seed,
            "start_time": 0,
            "test_score": score,
            "dev_score": score,
        }

    trials = pd.DataFrame(
        [
            row("s3delta", "tune", "FAILED", 1, None),  # every tuning trial failed: no finals
            row("s3delta", "tune", "FAILED", 1, None),
            row("random", "tune", "FINISHED", 1, 0.8),
            row("random", "final", "FINISHED", 1, 0.8),
        ]
    )
    table = results_table(trials).set_index("method")
    assert table.loc["s3delta", "n_seeds"] == 0 and table.loc["s3delta", "n_failed"] == 2
    assert table.loc["random", "n_seeds"] == 1 and table.loc["random", "n_failed"] == 0


@pytest.mark.slow
@pytest.mark.e2e
def test_a_trial_failed_on_a_data_error_is_retried_by_resume_once_fixed(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    import optuna

    sst2 = tmp_path / "data" / "glue" / "SST-2"
    sst2.mkdir(parents=True)
    for name in ("dev.tsv", "test.tsv"):
        shutil.copy(SHARED_DATA / "glue" / "SST-2" / name, sst2 / name)
    (sst2 / "train.tsv").write_text("text\tcategory\nnot a review\tmaybe\n")  # a data error
    home = tmp_path / "home"
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    sweep = render_sweep(
        "tiny_tuned.yaml",
        tmp_path,
        name=NAME,
        model=tiny_bert_dir,
        data=tmp_path / "data",
        mlflow=tracking_uri,
        experiment=EXPERIMENT,
        steps=10,
        trials=2,
        storage=None,
    )
    env = service_env(S3DELTA_HOME=str(home))
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)

    rc, log = _run(["run", str(sweep)], env, tmp_path / "first.log")
    assert rc == 1, log[-3000:]
    assert "incomplete: 1 cell(s) miss final seeds, 2 failed trial(s)" in log, log[-3000:]
    assert _cell_and_sweep(tracking_uri) == {
        "cell": ("FAILED", "incomplete: 2 failed"),
        "sweep": ("FAILED", "incomplete: 2 failed"),
    }
    assert "incomplete: 2 failed" in _runs_row(env)
    raw = subprocess.run(
        [str(VENV_BIN / "s3delta"), "results", NAME, "--raw", "--json", "--experiment", EXPERIMENT],
        env={**env, "MLFLOW_TRACKING_URI": tracking_uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    (cell,) = json.loads(raw.stdout)  # the cell is shown, not left out
    assert (cell["n_seeds"], cell["n_failed"]) == (0, 2), raw.stdout

    kept = ["run", str(sweep), "--resume", "--no-retry-failed"]
    rc, log = _run(kept, env, tmp_path / "kept.log")
    assert rc == 1 and "0 trials finished" in log, log[-3000:]
    assert "retrying" not in log
    assert "incomplete: 2 failed" in _runs_row(env)

    shutil.copy(SHARED_DATA / "glue" / "SST-2" / "train.tsv", sst2 / "train.tsv")  # fixed
    rc, log = _run(["run", str(sweep), "--resume"], env, tmp_path / "resume.log")
    assert rc == 0, log[-3000:]
    assert "retrying 2 failed trial(s)" in log and "2 failed before and retried" in log, log
    runs = trial_runs(tracking_uri, EXPERIMENT, NAME)
    keys = expected_keys(NAME, ["random"], ["1%"], seeds=[1], tune_trials=2)
    assert finished_by_key(runs) == dict.fromkeys(keys, 1)
    assert len(runs) == len(keys)  # each failed run was reused for its key's rerun
    study = optuna.load_study(
        study_name=f"{NAME}/glue/sst2/random/1%",
        storage=f"sqlite:///{home / NAME / 'optuna.db'}",
    )
    assert [(t.number, t.state.name) for t in study.trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert _cell_and_sweep(tracking_uri) == {
        "cell": ("FINISHED", "finished"),
        "sweep": ("FINISHED", "finished"),
    }
    row = _runs_row(env)
    assert row.split()[1:3] == ["finished", "FINISHED"], row
