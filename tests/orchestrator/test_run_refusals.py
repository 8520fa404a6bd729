"""`s3delta run` refuses what cannot work before Ray, MLflow or any file is started or written;
trial folders are injective; a diverged trial is a failure, not a result."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import ray
from test_run_support import SHARED_DATA, render_sweep, trial_result
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.kinds import run_sweep_file
from orchestrator.runner.cluster import ClusterResourceError
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.logged_copy import redacted_copy
from orchestrator.runner.result_checks import non_finite_reason
from orchestrator.sweep import SweepValidationError


@pytest.fixture
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MLFLOW_TRACKING_URI", "S3DELTA_OPTUNA_STORAGE", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _sweep(folder: Path, resources: str = "", mlflow: str | None = None) -> Path:
    path = render_sweep(
        "tiny_one_budget.yaml",
        folder,
        name="refusal",
        model="sentence-transformers/all-MiniLM-L6-v2",
        data=SHARED_DATA,
        storage=None,
        mlflow=mlflow,
        experiment="refusal",
        steps=5,
        methods="[random]",
    )
    if resources:
        text = path.read_text().replace(
            "resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: 2}", resources
        )
        path.write_text(text)
    return path


def _written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != "refusal.yaml")


def test_gpus_the_machine_lacks_are_refused_before_ray_starts(sweep_dir: Path) -> None:
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has a GPU")
    path = _sweep(sweep_dir, "resources: {gpus_per_trial: 1}")
    with pytest.raises(
        ClusterResourceError, match=r"resources.gpus_per_trial: 1 GPU\(s\) per trial"
    ):
        run_sweep_file(path)
    assert not ray.is_initialized()
    assert _written(sweep_dir) == []
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "set gpus_per_trial: 0" in lines[0], result.output
    assert "Traceback" not in result.output


def test_more_cpus_than_the_machine_has_are_refused_before_ray_starts(sweep_dir: Path) -> None:
    path = _sweep(sweep_dir, "resources: {cpus_per_trial: 4096}")
    with pytest.raises(ClusterResourceError, match="lower cpus_per_trial to at most"):
        run_sweep_file(path)
    assert not ray.is_initialized()
    assert _written(sweep_dir) == []


def test_a_store_that_cannot_be_created_is_refused_before_anything(sweep_dir: Path) -> None:
    path = _sweep(sweep_dir, mlflow="'sqlite:////etc'")
    with pytest.raises(
        SweepValidationError, match=r"mlflow\.tracking_uri: sqlite:////etc names a folder"
    ):
        run_sweep_file(path)
    assert not ray.is_initialized()
    assert _written(sweep_dir) == []


def test_the_sweep_copy_never_holds_a_password(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("optuna: {storage: 'postgresql://bob:hunter2@db/x'}\n")
    (tmp_path / "out").mkdir()
    copy = redacted_copy(sweep, tmp_path / "out")
    assert "hunter2" not in copy.read_text() and "bob:***@db" in copy.read_text()
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: x\n")
    assert redacted_copy(plain, tmp_path / "out") == plain


def test_trial_folders_are_injective_and_fit_a_file_name() -> None:
    def key(method: str, budget: str | None = "0.01%") -> TrialKey:
        return TrialKey("s", "glue/sst2", method, budget, "final", 1)

    spaced, dashed = key("manual//data/st x.json"), key("manual//data/st-x.json")
    assert spaced.folder != dashed.folder
    assert spaced.folder.startswith("glue-sst2__manual-data-st-x.json__0.01__final__1__")
    long = key("manual/" + "/deep" * 200 + "/s.json")
    assert len(long.folder.encode()) <= 255
    assert key("random", "0.01%").folder == key("random", "0.01%").folder  # stable on resume


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_a_non_finite_score_is_a_failure_with_its_reason(bad) -> None:
    reason = non_finite_reason(trial_result(dev_score=bad, test_score=0.5))
    assert reason is not None and "dev_score" in reason and "diverged" in reason
    assert non_finite_reason(trial_result(dev_score=0.5, test_score=0.7)) is None


def test_the_trial_task_fails_a_trial_whose_scores_are_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.trial
    from orchestrator.runner.executor import execute_trial
    from workers.trial_types import TrialConfig, TrialResult

    def diverged(cfg: TrialConfig, callback=None) -> TrialResult:
        nan = float("nan")
        return TrialResult(
            config=cfg.model_dump(), structure=None, probabilities=None,
            expected_size_trajectory=[], search_dev={}, dev={"accuracy": nan},
            test={"accuracy": nan}, dev_score=nan, test_score=nan, delta_params=1,
            head_params=1, backbone_params=1, budget_params=None, split_sizes={},
            wall_time_s=0.0, device="cpu",
        )  # fmt: skip

    monkeypatch.setattr(workers.trial, "run_trial", diverged)
    outcome = execute_trial(TrialConfig(num_threads=1), "k", None)
    assert outcome.status == "failed" and outcome.result is None
    assert outcome.error.startswith("NonFiniteResult: dev_score is nan")


def test_a_second_driver_of_the_same_sweep_is_refused_naming_the_first(sweep_dir: Path) -> None:
    import subprocess
    import sys

    from orchestrator.runner.lock import SweepLockedError, sweep_lock

    path = _sweep(sweep_dir)
    run_dir = sweep_dir / "home" / "refusal"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(SweepLockedError, match=rf"already being run by pid {holder.pid} on "):
            run_sweep_file(path)
        assert not ray.is_initialized()
        result = CliRunner().invoke(app, ["run", str(path)])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0], result.output
    finally:
        holder.kill()
        holder.wait()
    with sweep_lock(run_dir, "refusal"):  # the kernel released the dead holder's lock
        pass


HOLD_LOCK = """
import sys, time
from pathlib import Path
from orchestrator.runner.lock import sweep_lock
with sweep_lock(Path(sys.argv[1]), "refusal"):
    print("held", flush=True)
    time.sleep(120)
"""
