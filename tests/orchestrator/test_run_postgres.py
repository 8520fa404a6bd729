"""`s3delta run` with MLflow on a PostgreSQL-backed `mlflow server` and Optuna on PostgreSQL,
and a password in the storage URL that appears nowhere the run writes or prints.

The local PostgreSQL trusts every login, so any password connects. It is written the way
the validator's fix suggests (`postgresql://`, which must work with the installed
driver). After `s3delta validate`, `s3delta run` and `s3delta runs`, every byte they
printed, every file under the test's folder (run dir, artifacts: sweep.yaml, plan.json)
and every param and tag of the experiment's runs is searched for it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from test_run_support import (
    OPTUNA_POSTGRES_URL,
    OPTUNA_SCHEMA,
    POSTGRES_URL,
    SHARED_DATA,
    VENV_BIN,
    expected_keys,
    finished_by_key,
    mlflow_server,
    render_sweep,
    run_cli,
    service_env,
    trial_runs,
)

pytestmark = pytest.mark.e2e
PASSWORD = "Hunter2-Sekr1t-s3delta"


def _postgres_up() -> bool:
    """Reachable, and with Optuna's schema created (idempotent)."""
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(POSTGRES_URL).begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
            return True
    except sqlalchemy.exc.OperationalError:
        return False


@pytest.fixture
def sweep_name():
    """A unique sweep name (so unique Optuna study names); its studies are deleted after."""
    if not _postgres_up():
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    name = f"e2e-pg-{uuid.uuid4().hex[:8]}"
    yield name
    import optuna

    for summary in optuna.get_all_study_summaries(OPTUNA_POSTGRES_URL):
        if summary.study_name.startswith(f"{name}/"):
            optuna.delete_study(study_name=summary.study_name, storage=OPTUNA_POSTGRES_URL)


@pytest.mark.heavy
def test_postgres_mlflow_store_and_optuna_storage_and_the_password_stays_secret(
    tmp_path: Path, tiny_bert_dir: Path, sweep_name: str
) -> None:
    import optuna
    from mlflow.tracking import MlflowClient

    experiment = sweep_name
    storage = (
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/test"
        f"?options=-csearch_path%3D{OPTUNA_SCHEMA}"
    )
    with mlflow_server(POSTGRES_URL, tmp_path / "artifacts", tmp_path / "mlflow.log") as uri:
        sweep = render_sweep(
            "tiny_one_budget.yaml",
            tmp_path,
            name=sweep_name,
            model=tiny_bert_dir,
            data=SHARED_DATA,
            storage=f"'{storage}'",
            mlflow=uri,
            experiment=experiment,
            steps=10,
            methods="[s3delta]",
        )
        env = service_env(S3DELTA_HOME=str(tmp_path / "home"))
        validated = subprocess.run(
            [str(VENV_BIN / "s3delta"), "validate", str(sweep)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert validated.returncode == 0, validated.stderr
        assert "postgres:***@127.0.0.1" in validated.stdout
        code = run_cli(["run", str(sweep)], env, tmp_path / "run.log", timeout_s=420)
        assert code == 0, (tmp_path / "run.log").read_text()[-5000:]
        runs = trial_runs(uri, experiment, sweep_name)
        keys = expected_keys(sweep_name, ["s3delta"], ["1%"], seeds=[1, 2])
        assert finished_by_key(runs) == dict.fromkeys(keys, 1)
        client = MlflowClient(uri)
        try:
            studies = {
                s.study_name: s.n_trials
                for s in optuna.get_all_study_summaries(OPTUNA_POSTGRES_URL)
                if s.study_name.startswith(f"{sweep_name}/")
            }
            assert studies == {f"{sweep_name}/glue/sst2/s3delta/1%": 1}
            assert not (tmp_path / "home" / sweep_name / "optuna.db").exists()
            # `runs` without the sweep file reads the stores the sweep's own file names
            # (its copy in the run dir) and its sweep run (issue 23, 6: was "not started")
            listed = subprocess.run(
                [str(VENV_BIN / "s3delta"), "runs"], env=env, capture_output=True, text=True
            )
            assert listed.returncode == 0, listed.stderr[-3000:]
            row = next(r for r in listed.stdout.splitlines() if r.startswith(sweep_name))
            assert row.split()[1:4] == ["finished", "FINISHED", "0"], listed.stdout

            printed = validated.stdout + validated.stderr + listed.stdout + listed.stderr
            assert PASSWORD not in printed  # run.log, what `run` printed, is a file below
            leaks = [
                str(path.relative_to(tmp_path))
                for path in tmp_path.rglob("*")
                if path.is_file() and path != sweep and PASSWORD.encode() in path.read_bytes()
            ]
            assert leaks == [], f"the password is stored in {leaks}"
            written = {path.name for path in tmp_path.rglob("*") if path.is_file()}
            assert {"sweep.yaml", "plan.json", "run.log"} <= written
            everything = client.search_runs(
                [client.get_experiment_by_name(experiment).experiment_id]
            )
            assert len(everything) > len(runs)  # the sweep and cell runs too
            for run in everything:
                for key, value in {**run.data.params, **run.data.tags}.items():
                    assert PASSWORD not in value, f"run {run.info.run_id}: {key} holds it"
        finally:
            found = client.get_experiment_by_name(experiment)
            if found is not None:
                client.delete_experiment(found.experiment_id)
