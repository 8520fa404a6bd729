"""The results client against a real sqlite MLflow store holding the sample sweep.

Expected numbers are worked out by hand from the sample's rule (test = base +
0.00/0.02/0.07 by seed, dev = base + 0.00/0.05/0.03), not recomputed by the code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from dashboards.sample_sweep import SampleSweep, write_sample_sweep
from orchestrator.locations import with_installed_driver
from orchestrator.results.client import (
    Client,
    ResultsError,
    UnknownSweepError,
    default_runs_dir,
    default_tracking_uri,
)

STD_OF_OFFSETS = 0.0360555  # sqrt(((-.03)^2 + (-.01)^2 + .04^2) / 2)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSweep:
    root = tmp_path_factory.mktemp("store")
    return write_sample_sweep(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")


@pytest.fixture(scope="module")
def client(sample: SampleSweep) -> Client:
    return Client(sample.tracking_uri, sample.experiment)


def test_default_tracking_uri_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path))
    assert default_runs_dir() == tmp_path
    assert default_tracking_uri() == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://db/x")
    # with the installed PostgreSQL driver (orchestrator.locations.with_installed_driver)
    assert default_tracking_uri() == with_installed_driver("postgresql://db/x")
    monkeypatch.delenv("S3DELTA_HOME")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri() == f"sqlite:///{tmp_path}/runs/mlflow.db"


def test_unknown_experiment_lists_known(sample: SampleSweep) -> None:
    with pytest.raises(ResultsError, match=r"experiment 'nope' not found.*'s3delta'"):
        Client(sample.tracking_uri, "nope")


def test_sweeps_table(client: Client, sample: SampleSweep) -> None:
    sweeps = client.sweeps()
    assert list(sweeps.columns) == ["name", "run_id", "status", "start_time", "n_trials"]
    row = sweeps.iloc[0]
    assert (row["name"], row["run_id"], row["status"]) == ("demo", sample.parent_run_id, "FINISHED")
    # 12 cells x 3 seeds, minus the 3 seeds of the missing cell, plus 1 tune trial.
    assert row["n_trials"] == 34


def test_unknown_sweep_lists_known(client: Client) -> None:
    with pytest.raises(
        UnknownSweepError, match=r"sweep 'nope' not found.*known sweeps: \['demo'\]"
    ):
        client.trials("nope")
    with pytest.raises(UnknownSweepError, match="known sweeps"):
        client.results("nope")


def test_trials_by_phase(client: Client) -> None:
    final = client.trials("demo")
    assert len(final) == 33
    assert set(final["phase"]) == {"final"}
    assert len(client.trials("demo", phase="tune")) == 1
    assert len(client.trials("demo", phase=None)) == 34
    failed = final[final["status"] == "FAILED"]
    assert failed[["task", "method", "budget", "seed"]].values.tolist() == [
        ["glue/rte", "random", "0.05%", 2]
    ]
    assert failed["test_score"].isna().all()
    row = final[(final["task"] == "glue/sst2") & (final["method"] == "s3delta")]
    row = row[(row["budget"] == "0.01%") & (row["seed"] == 2)].iloc[0]
    assert row["test_score"] == pytest.approx(0.87)
    assert row["budget_params"] == 2271
    with pytest.raises(ResultsError, match="phase 'train'"):
        client.trials("demo", phase="train")


def test_results_means_and_stds(client: Client) -> None:
    table = client.results("demo").set_index(["task", "method", "budget"])
    cell = table.loc[("glue/sst2", "s3delta", "0.01%")]
    assert cell["n_seeds"] == 3 and cell["n_failed"] == 0
    assert cell["test_score_mean"] == pytest.approx(0.83)
    assert cell["test_score_std"] == pytest.approx(STD_OF_OFFSETS, abs=1e-6)
    assert cell["test_accuracy_mean"] == pytest.approx(0.83)
    assert cell["dev_score_mean"] == pytest.approx(0.826667, abs=1e-6)
    assert cell["budget_params_mean"] == 2271
    # Seeds 0 and 1 finished (0.56, 0.58), seed 2 failed.
    partial = table.loc[("glue/rte", "random", "0.05%")]
    assert (partial["n_seeds"], partial["n_failed"]) == (2, 1)
    assert partial["test_score_mean"] == pytest.approx(0.57)
    assert partial["test_score_std"] == pytest.approx(0.0141421, abs=1e-6)
    lnfit = table.loc[("glue/sst2", "manual/lnfit", "none")]
    assert lnfit["delta_params_mean"] == 13 * 384
    assert ("glue/rte", "manual/lnfit", "none") not in table.index
    # budgets sort numerically within a (task, method)
    order = client.results("demo")
    s3 = order[(order["task"] == "glue/sst2") & (order["method"] == "s3delta")]
    assert list(s3["budget"]) == ["0.01%", "0.05%"]


def test_best_structure_is_best_dev_run(client: Client, sample: SampleSweep) -> None:
    best_id = client.best_run_id("demo", "glue/sst2", "0.01%")
    assert best_id == sample.run_ids[("glue/sst2", "s3delta", "0.01%", 1, "final")]
    structure = client.best_structure("demo", "glue/sst2", "0.01%")
    logged = json.loads(client.run_artifact(best_id, "structure.json").read_text())
    assert [e.path for e in structure.entries] == [e["path"] for e in logged["entries"]]
    assert structure.budget == 2271
    assert 0 < structure.total_size <= 2271


def test_best_structure_errors_name_what_exists(client: Client) -> None:
    with pytest.raises(ResultsError, match=r"budgets with one: \['0.01%', '0.05%'\]"):
        client.best_structure("demo", "glue/sst2", "0.02%")
    with pytest.raises(ResultsError, match=r"tasks with one: \['glue/rte', 'glue/sst2'\]"):
        client.best_structure("demo", "glue/cola", "0.01%")


def test_artifacts_probabilities_and_history(client: Client, sample: SampleSweep) -> None:
    run_id = sample.run_ids[("glue/sst2", "s3delta", "0.05%", 0, "final")]
    probabilities = client.probabilities(run_id)
    assert "encoder.layer.5.attention.self.query:lora" in probabilities
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    history = client.metric_history(run_id, "search/expected_size")
    assert list(history.columns) == ["step", "value", "timestamp"]
    assert list(history["step"]) == list(range(30))
    assert history["value"].iloc[-1] == pytest.approx(11356, rel=0.01)
    with pytest.raises(ResultsError, match=r"no metric 'search/nope'.*search/budget"):
        client.metric_history(run_id, "search/nope")
    random_run = sample.run_ids[("glue/sst2", "random", "0.05%", 0, "final")]
    with pytest.raises(ResultsError, match=r"no artifact 'probabilities.json'.*structure.json"):
        client.probabilities(random_run)


def test_results_count_a_rerun_seed_once(tmp_path: Path) -> None:
    sample = write_sample_sweep(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts")
    writer = MlflowClient(tracking_uri=sample.tracking_uri)
    experiment_id = writer.get_experiment_by_name(sample.experiment).experiment_id
    tags = {
        "mlflow.parentRunId": sample.parent_run_id,
        "s3delta.kind": "trial",
        "s3delta.sweep": "demo",
        "s3delta.task": "glue/sst2",
        "s3delta.method": "s3delta",
        "s3delta.budget": "0.01%",
        "s3delta.seed": "0",
        "s3delta.phase": "final",
    }
    rerun = writer.create_run(experiment_id, tags=tags).info.run_id
    writer.log_metric(rerun, "test_score", 0.90)
    writer.log_metric(rerun, "dev_score", 0.99)
    writer.set_terminated(rerun, status="FINISHED")
    client = Client(sample.tracking_uri, sample.experiment)
    cell = client.results("demo").set_index(["task", "method", "budget"])
    cell = cell.loc[("glue/sst2", "s3delta", "0.01%")]
    # The rerun (0.90) replaces seed 0's first run (0.80): (0.90 + 0.82 + 0.87) / 3.
    assert cell["n_seeds"] == 3
    assert cell["test_score_mean"] == pytest.approx(0.863333, abs=1e-6)
    assert client.best_run_id("demo", "glue/sst2", "0.01%") == rerun


def test_the_default_baseline_is_the_one_the_sweep_added_seeds_against(tmp_path: Path) -> None:
    """A sweep with `seeds: {until: decided, baseline: finetune}` is read against finetune
    first (table, verdict, JSON) unless --baseline says otherwise; without one, random."""
    from typer.testing import CliRunner

    from orchestrator.cli import app

    sample = write_sample_sweep(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts")
    client = Client(sample.tracking_uri, sample.experiment)
    assert client.compare("demo").baseline == "random"
    mlflow = MlflowClient(sample.tracking_uri)
    experiment_id = mlflow.get_experiment_by_name(sample.experiment).experiment_id
    tags = {"s3delta.kind": "cell", "s3delta.sweep": "demo", "s3delta.method": "s3delta"}
    for budget in ("0.01%", "0.05%"):
        mlflow.create_run(
            experiment_id,
            tags={**tags, "s3delta.task": "glue/sst2", "s3delta.budget": budget,
                  "s3delta.seeds_baseline": "finetune", "s3delta.seeds_verdict": "worse",
                  "s3delta.seeds_used": "3"},
        )  # fmt: skip
    assert client.compare("demo").baseline == "finetune"
    assert client.compare("demo", baseline="random").baseline == "random"

    runner = CliRunner()
    common = ["--tracking-uri", sample.tracking_uri]
    shown = json.loads(runner.invoke(app, ["results", "demo", "--json", *common]).stdout)
    assert shown["baseline"] == "finetune"
    assert shown["rows"][0]["baseline"] == "finetune"  # listed first
    assert {
        r["verdict"]
        for r in shown["rows"]
        if r["baseline"] == "finetune" and r["task"] == "glue/sst2"
    } == {"worse"}
    asked = json.loads(
        runner.invoke(app, ["results", "demo", "--json", "--baseline", "random", *common]).stdout
    )
    assert asked["baseline"] == "random" and asked["rows"][0]["baseline"] == "random"
