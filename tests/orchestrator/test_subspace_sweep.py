"""Subspace sweeps: the ``subspace:`` section validated with field paths (no torch), and a
real run on embedded Ray recorded in MLflow (parent, experiment and stage runs,
artifacts), read back by `s3delta results`, resumed without rerunning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.results.client import Client
from orchestrator.results.subspace import read_tables
from orchestrator.runner.outcome import SweepAlreadyRunError
from orchestrator.runner.subspace_sweep import run_subspace_sweep_file
from orchestrator.sweep import SweepValidationError
from orchestrator.sweep.subspace_config import load_subspace_sweep
from tests.conftest import SHARED_DATA, SUBSPACE_TINY_SETTINGS

REPO = Path(__file__).resolve().parents[2]


def _write(
    folder: Path, subspace: str, extra: str = "", model: str = "m", seeds: str = "[1, 2]"
) -> Path:
    path = folder / "sub.yaml"
    path.write_text(
        f"model: {model}\ntasks: [glue/sst2]\nseeds: {seeds}\ndata_dir: {SHARED_DATA}\n"
        f"subspace:\n{subspace}{extra}"
    )
    return path


def test_section_problems_name_their_field_and_the_fix(tmp_path) -> None:
    path = _write(
        tmp_path,
        "  dets: [lora]\n  d: 0\n  seed: 3\n  grid: 5\n  stage2_lr_range: [0.3, 0.1]\n",
        model=str(tmp_path),
    )
    with pytest.raises(SweepValidationError) as info:
        load_subspace_sweep(path)
    problems = info.value.problems
    assert "subspace.seed: is set by the sweep (seeds:); remove it here" in problems
    assert any(
        p.startswith("subspace.grid: is not a subspace setting; did you mean 'grid_size'")
        for p in problems
    )
    assert any(p.startswith("subspace.dets: ['lora'] has 1 DET") and "fix:" in p for p in problems)
    assert any(p.startswith("subspace.d: 0 is not a dimension; fix:") for p in problems)


def test_shared_fields_are_checked_as_in_a_search_sweep(tmp_path) -> None:
    """The fields both sweep kinds have are checked once (`SweepBase`): an empty data_dir
    is refused instead of meaning the sweep's folder, a section typo gets a suggestion,
    and the problems come in file order."""
    path = tmp_path / "sub.yaml"
    path.write_text(
        f"model: {tmp_path}\ntasks: [glue/sst2]\ndata_dir: ''\nseeds: [1, 1]\n"
        "resources: {gpu_per_trial: 1}\nsubspace: {d: 4}\n"
    )
    with pytest.raises(SweepValidationError) as info:
        load_subspace_sweep(path)
    assert info.value.problems == [
        "data_dir: is empty; give the folder holding glue/ and superglue/, or remove data_dir "
        "to load tasks from the Hugging Face hub",
        "seeds: seed 1 is listed twice (at [0] and [1]); list each once",
        "resources.gpu_per_trial: unknown key; did you mean 'gpus_per_trial'? allowed keys "
        "here: cpus_per_trial, gpus_per_trial, max_concurrent",
    ]


def test_validating_a_subspace_sweep_imports_no_torch(tmp_path) -> None:
    path = _write(tmp_path, "  d: 4\n", model=str(tmp_path))
    probe = (
        "import sys; from orchestrator.sweep.subspace_config import load_subspace_sweep; "
        f"load_subspace_sweep({str(path)!r}); "
        "print([m for m in ('torch', 'transformers', 'ray') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_sizes_that_cannot_match_are_refused_before_ray_or_mlflow(tmp_path, tiny_bert_dir) -> None:
    path = _write(tmp_path, "  target_size: 6000\n", model=str(tiny_bert_dir))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(SweepValidationError) as info:
        run_subspace_sweep_file(path, tracking_uri=uri, run_dir=tmp_path / "run")
    assert info.value.problems[0].startswith("subspace.target_size: 6,000 cannot be matched")
    assert not ray.is_initialized() and not (tmp_path / "mlflow.db").exists()


TINY = SUBSPACE_TINY_SETTINGS + "  stage2_lr_range: [0.01, 0.1]\n"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_subspace_sweep_runs_on_embedded_ray_into_mlflow_and_resumes(
    tmp_path, tiny_bert_dir
) -> None:
    extra = "optuna: {trials_per_cell: 2}\nresources: {cpus_per_trial: 1}\n"
    path = _write(tmp_path, TINY, extra, model=str(tiny_bert_dir), seeds="[1]")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = run_subspace_sweep_file(path, tracking_uri=uri, run_dir=tmp_path / "run")
    assert (outcome.ok, outcome.failed, outcome.skipped) == (1, 0, 0)
    assert not ray.is_initialized()
    mlflow = MlflowClient(uri)
    experiment = mlflow.get_experiment_by_name("s3delta").experiment_id
    parent = mlflow.get_run(outcome.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["s3delta.kind"] == "subspace-sweep"
    runs = mlflow.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{outcome.parent_run_id}'"
    )
    assert [r.data.tags["s3delta.key"] for r in runs] == ["glue/sst2/seed1"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert {"subspace_pct_mean", "transfer_pct_mean", "d"} <= set(run.data.metrics)
        assert run.data.params["stage2_lr_trials"] == "2"
        stages = mlflow.search_runs(
            [experiment], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
        )
        names = sorted(s.info.run_name for s in stages)
        assert names == [
            "stage0/adapter", "stage0/lora", "stage0/prefix", "stage1",
            "stage2/adapter", "stage2/lora", "stage2/prefix",
        ]  # fmt: skip
        by_name = {s.info.run_name: s.data.metrics for s in stages}
        assert by_name["stage0/lora"]["delta_size"] == 5_376
        assert {"transfer_to_adapter_pct", "transfer_to_prefix_pct", "stage2_lr"} <= set(
            by_name["stage2/lora"]
        )
        artifacts = {a.path for a in mlflow.list_artifacts(run.info.run_id, "subspace")}
        assert {
            "subspace/codecs.safetensors",
            "subspace/v.safetensors",
            "subspace/grid.json",
        } <= artifacts
    tables = read_tables(Client(uri), path.stem)
    assert tables is not None and len(tables) == 1 and tables[0].seeds == [1]
    assert len(tables[0].transfer_pct) == 3 and tables[0].original["lora"].n == 1
    shown = CliRunner().invoke(app, ["results", path.stem, "--tracking-uri", uri, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["task"] == "glue/sst2"
    report = CliRunner().invoke(
        app, ["report", path.stem, "--tracking-uri", uri, "--out", str(tmp_path / "report")]
    )
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "found through lora" in page and "dev score over the plane of the P_k" in page
    with pytest.raises(SweepAlreadyRunError):
        run_subspace_sweep_file(path, tracking_uri=uri, run_dir=tmp_path / "run")
    again = run_subspace_sweep_file(path, tracking_uri=uri, run_dir=tmp_path / "run", resume=True)
    assert (again.ok, again.skipped, again.parent_run_id) == (0, 1, outcome.parent_run_id)


def test_a_second_driver_of_a_subspace_sweep_is_refused_before_any_record(
    tmp_path, tiny_bert_dir
) -> None:
    """The run-dir lock guards subspace sweeps as it guards S3Delta sweeps."""
    from orchestrator.runner.lock import SweepLockedError, sweep_lock

    path = _write(tmp_path, TINY, model=str(tiny_bert_dir))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    name = load_subspace_sweep(path).sweep_name
    with sweep_lock(run_dir, name), pytest.raises(SweepLockedError) as info:
        run_subspace_sweep_file(path, tracking_uri=uri, run_dir=run_dir)
    assert "already being run by" in str(info.value) and "--resume" in str(info.value)
    assert not ray.is_initialized() and not (tmp_path / "mlflow.db").exists()
