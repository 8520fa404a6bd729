"""`s3delta run` against a real Ray head: refused before any file when the cluster cannot
give a trial's shape, and as `ray job submit -- s3delta run` with a real MLflow server.
One head serves the module (starting one costs about 15 s of two busy cores)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run_support import (
    SHARED_DATA,
    VENV_BIN,
    expected_keys,
    finished_by_key,
    mlflow_server,
    ray_head,
    render_sweep,
    service_env,
    trial_runs,
)

from tests.ray_job_submit import submit_sweep_and_wait

pytestmark = pytest.mark.e2e

SWEEP = "e2e-cluster"
EXPERIMENT = "e2e-cluster"
BUDGETS = ["1%", "3%"]
METHODS = ["s3delta", "random"]


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Ray head for this module's tests; its socket paths must stay short, so its temp
    dir lives directly under /tmp."""
    temp = Path(tempfile.mkdtemp(prefix="s3dray-", dir="/tmp"))
    try:
        with ray_head(temp, tmp_path_factory.mktemp("ray") / "ray.log") as started:
            yield {**started, "name": temp.name}
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.heavy
def test_a_cluster_without_the_resources_is_refused_before_any_file(
    tmp_path: Path, head: dict[str, str]
) -> None:
    home = tmp_path / "home"
    env = service_env(S3DELTA_HOME=str(home))
    for shape, fragment in (
        ("{cpus_per_trial: 1, gpus_per_trial: 1}", "resources.gpus_per_trial: 1 GPU(s)"),
        ("{cpus_per_trial: 64, gpus_per_trial: 0}", "resources.cpus_per_trial: 64 CPUs"),
    ):
        sweep = render_sweep(
            "tiny_one_budget.yaml",
            tmp_path,
            name="too-big",
            model="sentence-transformers/all-MiniLM-L6-v2",
            data=SHARED_DATA,
            storage=None,
            mlflow=None,
            experiment=EXPERIMENT,
            steps=5,
            methods="[random]",
        )
        sweep.write_text(
            sweep.read_text().replace(
                "{cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: 2}", shape
            )
        )
        out = subprocess.run(
            [str(VENV_BIN / "s3delta"), "run", str(sweep), "--address", head["address"]],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert out.returncode == 2, out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], out.stderr
        assert f"the Ray cluster at {head['address']}" in lines[0]
        assert not home.exists()  # no run dir, no MLflow or Optuna store


@pytest.mark.heavy
def test_job_submit_records_every_trial_once_with_artifacts(
    tmp_path: Path, tiny_bert_dir: Path, head: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with mlflow_server(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", tmp_path / "mlflow.log"
    ) as tracking_uri:
        sweep = render_sweep(
            "tiny_budgets.yaml",
            tmp_path,
            name=SWEEP,
            model=tiny_bert_dir,
            data=SHARED_DATA,
            storage=None,
            mlflow=tracking_uri,
            experiment=EXPERIMENT,
        )
        runtime_env = {"env_vars": {"S3DELTA_HOME": str(home)}}
        status, logs = submit_sweep_and_wait(
            sweep,
            dashboard=head["dashboard"],
            submission_id=f"{SWEEP}-{head['name']}",
            runtime_env=runtime_env,
            env=service_env(),
            timeout_s=600,
        )
        assert status == "SUCCEEDED", logs

        runs = trial_runs(tracking_uri, EXPERIMENT, SWEEP)
        keys = expected_keys(SWEEP, METHODS, BUDGETS, seeds=[1, 2])
        assert finished_by_key(runs) == dict.fromkeys(keys, 1)
        assert len(runs) == len(keys)  # no failed or killed leftovers either

        from mlflow.tracking import MlflowClient

        from orchestrator.results.client import Client

        client = Client(tracking_uri, EXPERIMENT)
        table = client.trials(SWEEP, phase=None)
        assert len(table) == len(keys)
        for run in runs:
            tags = run.data.tags
            # trial -> its cell run (task x method x budget) -> the sweep run
            cell = MlflowClient(tracking_uri).get_run(tags["mlflow.parentRunId"])
            assert cell.data.tags["s3delta.kind"] == "cell"
            assert cell.data.tags["mlflow.parentRunId"] == client.sweep_run_id(SWEEP)
            assert run.data.params["seed"] == tags["s3delta.seed"]
            assert {"dev_score", "test_score", "delta_params", "budget_fraction"} <= set(
                run.data.metrics
            )
            assert client.run_artifact(run.info.run_id, "delta.safetensors").stat().st_size > 0
            structure = json.loads(
                client.run_artifact(run.info.run_id, "structure.json").read_text()
            )
            assert structure["entries"], tags["s3delta.key"]
            if tags["s3delta.method"] == "s3delta":
                assert client.probabilities(run.info.run_id)
                assert not client.metric_history(run.info.run_id, "search/expected_size").empty
        for budget in BUDGETS:
            best = client.best_structure(SWEEP, "glue/sst2", budget)
            assert best.budget is not None
            assert 0 < best.total_size <= best.budget
        # the run dir is outside the job's temporary copy, under S3DELTA_HOME
        assert (home / SWEEP / "optuna.db").exists()
        assert (home / SWEEP / "sweep.yaml").exists()
