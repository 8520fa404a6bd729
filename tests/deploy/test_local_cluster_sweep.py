"""deploy/local-cluster.sh for real, one cluster for the whole module: `start` brings up
MLflow on the local PostgreSQL and two Ray nodes, a sweep is submitted to it with
`ray job submit`, `status` reports it, and `stop` ends every process it started. (One
start and one stop serve all the checks: each costs about 40 s of two busy cores.)

The job gets the MLflow URI and Optuna storage only from the env.sh the script writes
(the sweep YAML names neither), so this checks that what the script tells users to
source is enough to run a sweep on its cluster. The script runs from a shell without
the venv activated, as deploy/README.md shows it: the job's `s3delta` entrypoint must
still be found on the Ray head. The refusals of `start` are in test_local_cluster.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from compose_cli import REPO

from tests.conftest import SHARED_DATA, SUBSPACE_TINY_SETTINGS
from tests.ray_job_submit import get_json, submit_sweep_and_wait

pytestmark = pytest.mark.e2e

SCRIPT = REPO / "deploy" / "local-cluster.sh"
VENV_BIN = REPO / ".venv" / "bin"
RAY = VENV_BIN / "ray"
TEMPLATE = Path(__file__).parent / "sweeps" / "local_cluster_sweep.yaml"
METHODS = ["s3delta", "random"]
SEEDS = [1, 2]
BUDGET = "1%"
TASK = "glue/sst2"
TRIAL_FUNCTION = "execute_trial"  # orchestrator.runner.executor's Ray task


@dataclass(frozen=True)
class LocalCluster:
    """A running local cluster: the script's settings and the env.sh it wrote."""

    settings: dict[str, str]
    exported: dict[str, str]
    state: Path

    @property
    def dashboard(self) -> str:
        return self.exported["RAY_ADDRESS"]

    @property
    def tracking_uri(self) -> str:
        return self.exported["MLFLOW_TRACKING_URI"]

    @property
    def optuna_storage(self) -> str:
        return self.exported["S3DELTA_OPTUNA_STORAGE"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _without_venv_on_path() -> dict[str, str]:
    """This environment as a shell without the venv activated: the script must not need it."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env = {**os.environ, "PATH": os.pathsep.join(path)}
    env.pop("VIRTUAL_ENV", None)
    return env


def _script(action: str, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action], env=env, capture_output=True, text=True, timeout=timeout
    )


def _read_env_file(path: Path) -> dict[str, str]:
    """`export KEY=VALUE` lines of env.sh (the script writes no quoting)."""
    exported = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            exported[key] = value
    return exported


def _drop_databases(env: dict[str, str]) -> None:
    """Remove the test's own databases (FORCE: a server may still hold a connection)."""
    for db in (env["S3DELTA_MLFLOW_DB"], env["S3DELTA_OPTUNA_DB"]):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAt", "-c",
             f'drop database if exists "{db}" with (force)'],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[LocalCluster]:
    """The script's cluster on free ports, a short state dir and databases of its own,
    started once for this module (`test_stop_...` stops it; then this stop is a no-op)."""
    suffix = uuid.uuid4().hex[:8]
    state = Path(tempfile.mkdtemp(prefix="s3dlcs-"))  # Ray's socket paths must stay short
    env = {
        **_without_venv_on_path(),
        "S3DELTA_LOCAL_STATE": str(state),
        "S3DELTA_MLFLOW_PORT": str(_free_port()),
        "S3DELTA_RAY_PORT": str(_free_port()),
        "S3DELTA_DASHBOARD_PORT": str(_free_port()),
        "S3DELTA_MLFLOW_DB": f"s3delta_mlflow_e2e_{suffix}",
        "S3DELTA_OPTUNA_DB": f"s3delta_optuna_e2e_{suffix}",
        "S3DELTA_STOP_GRACE": "3",  # the SIGTERM-then-SIGKILL path, without 10 s waits
        "RAY_AUTH_MODE": "disabled",
    }
    try:
        started = time.monotonic()
        start = _script("start", env, timeout=300)
        assert start.returncode == 0, f"start failed:\n{start.stdout}\n{start.stderr}"
        print(f"start took {time.monotonic() - started:.0f}s")
        yield LocalCluster(env, _read_env_file(state / "env.sh"), state)
    finally:
        stop = _script("stop", env, timeout=120)
        _drop_databases(env)
        shutil.rmtree(state, ignore_errors=True)
        assert stop.returncode == 0, stop.stderr


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _session_members(sid: int) -> list[int]:
    done = subprocess.run(["ps", "-o", "pid=", "-s", str(sid)], capture_output=True, text=True)
    return [int(line) for line in done.stdout.split()]


def _alive_pids(pids: list[int]) -> list[str]:
    """`ps` lines of those of ``pids`` still running (a zombie has exited: not counted)."""
    done = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-p", ",".join(map(str, pids))],
        capture_output=True, text=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if line.split()[1][0] != "Z"]


@pytest.mark.heavy
def test_start_brings_up_mlflow_two_ray_nodes_and_the_databases(
    local_cluster: LocalCluster,
) -> None:
    settings = local_cluster.settings
    mlflow_port = int(settings["S3DELTA_MLFLOW_PORT"])
    with urllib.request.urlopen(f"http://127.0.0.1:{mlflow_port}/health", timeout=10) as reply:
        assert reply.status == 200

    # Ray's own CLI, not the script's check: two active nodes behind GCS port ray_port.
    # The autoscaler's report lags the GCS by a few seconds on a loaded machine: poll it.
    deadline = time.monotonic() + 60
    while True:
        ray_status = subprocess.run(
            [str(RAY), "status", "--address", f"127.0.0.1:{settings['S3DELTA_RAY_PORT']}"],
            env=settings,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ray_status.returncode == 0, ray_status.stderr
        active = ray_status.stdout.split("Active:")[1].split("Pending:")[0]
        if active.count("node_") == 2 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert active.count("node_") == 2, ray_status.stdout

    databases = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAt", "-c",
         "select datname from pg_database where datname like 's3delta_%'"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert {settings["S3DELTA_MLFLOW_DB"], settings["S3DELTA_OPTUNA_DB"]} <= set(databases)

    status = _script("status", settings, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "ray alive nodes: 2" in status.stdout
    assert local_cluster.dashboard == f"http://127.0.0.1:{settings['S3DELTA_DASHBOARD_PORT']}"
    assert local_cluster.exported["RAY_AUTH_MODE"] == "disabled"
    assert local_cluster.optuna_storage.startswith("postgresql+psycopg2://")


def _render_sweep(out_dir: Path, **values: str) -> Path:
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", value)
    assert "@" not in text, f"{TEMPLATE}: a field is not filled in"
    path = out_dir / f"{values['name']}.yaml"
    path.write_text(text)
    return path


def _trial_task_nodes(dashboard: str) -> list[str]:
    """Node ids of the finished trial tasks, from Ray's state API."""
    query = urllib.parse.urlencode(
        {
            "filter_keys": "func_or_class_name",
            "filter_predicates": "=",
            "filter_values": TRIAL_FUNCTION,
            "detail": "true",
            "limit": "1000",
        }
    )
    reply = get_json(f"{dashboard}/api/v0/tasks?{query}")
    tasks = reply["data"]["result"]["result"]
    return [task["node_id"] for task in tasks if task["state"] == "FINISHED"]


def _alive_node_ids(dashboard: str) -> set[str]:
    reply = get_json(f"{dashboard}/api/v0/nodes?detail=true&limit=100")
    return {n["node_id"] for n in reply["data"]["result"]["result"] if n["state"] == "ALIVE"}


def _submit_sweep_job(
    cluster: LocalCluster,
    sweep: Path,
    name: str,
    home: Path,
    extra_env: dict[str, str],
    timeout: int,
) -> str:
    """`ray job submit ... -- s3delta run SWEEP` from a shell without the venv; the job
    must succeed. Returns the tail of its logs for later assertions."""
    runtime_env = {
        "env_vars": {
            "S3DELTA_HOME": str(home),
            "MLFLOW_TRACKING_URI": cluster.tracking_uri,
            "HF_HUB_OFFLINE": "1",
            **extra_env,
        }
    }
    env = {**os.environ, "RAY_AUTH_MODE": cluster.exported["RAY_AUTH_MODE"]}
    env.pop("RAY_ADDRESS", None)
    status, logs = submit_sweep_and_wait(
        sweep,
        dashboard=cluster.dashboard,
        submission_id=f"{name}-job",
        runtime_env=runtime_env,
        env=env,
        timeout_s=timeout,
    )
    assert status == "SUCCEEDED", logs
    return logs


@pytest.mark.heavy
def test_sweep_job_on_local_cluster(
    local_cluster: LocalCluster, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from orchestrator.results.client import Client

    name = f"lc-sweep-{uuid.uuid4().hex[:8]}"
    sweep = _render_sweep(
        tmp_path, name=name, model=str(tiny_bert_dir), data=str(SHARED_DATA), experiment=name
    )
    home = tmp_path / "home"
    extra_env = {"S3DELTA_OPTUNA_STORAGE": local_cluster.optuna_storage}
    _submit_sweep_job(local_cluster, sweep, name, home, extra_env, timeout=420)

    client = Client(tracking_uri=local_cluster.tracking_uri, experiment=name)
    trials = client.trials(name, phase=None)
    assert set(trials["status"]) == {"FINISHED"}, trials[["method", "phase", "status"]]
    assert len(trials) == len(METHODS) * (1 + len(SEEDS))  # one tune trial a cell
    finals = trials[trials["phase"] == "final"]
    cells = sorted(zip(finals["method"], finals["budget"], finals["seed"], strict=True))
    assert cells == sorted((m, BUDGET, s) for m in METHODS for s in SEEDS)
    for run_id in finals["run_id"]:
        assert client.run_artifact(run_id, "delta.safetensors").stat().st_size > 0
        assert client.structure_dict(run_id)["entries"], run_id
    best = client.best_structure(name, TASK, BUDGET)
    assert best.budget is not None
    assert 0 < best.total_size <= best.budget
    # artifacts went through the server into the script's artifact folder
    assert list((local_cluster.state / "mlartifacts").rglob("delta.safetensors"))

    import optuna

    studies = {
        s.study_name: s.n_trials
        for s in optuna.get_all_study_summaries(local_cluster.optuna_storage)
    }
    assert studies == {f"{name}/{TASK}/{method}/{BUDGET}": 1 for method in METHODS}
    assert not (home / name / "optuna.db").exists()  # no SQLite fallback

    # two trials at a time, one CPU per node: both nodes must have run some
    nodes = _trial_task_nodes(local_cluster.dashboard)
    assert len(nodes) == len(trials), nodes
    alive = _alive_node_ids(local_cluster.dashboard)
    assert len(alive) == 2
    assert set(nodes) == alive


SUBSPACE_TINY = "subspace:\n" + SUBSPACE_TINY_SETTINGS


@pytest.mark.slow  # one tiny subspace experiment as a Ray job: ~2-4 min on two busy cores
def test_subspace_sweep_job_on_local_cluster(
    local_cluster: LocalCluster, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """A `subspace:` sweep submitted with `ray job submit` runs on the cluster's workers
    and lands in the cluster's MLflow server as a subspace sweep."""
    from orchestrator.results.client import Client
    from orchestrator.results.subspace import read_tables

    name = f"lc-subspace-{uuid.uuid4().hex[:8]}"
    sweep = tmp_path / f"{name}.yaml"
    sweep.write_text(
        f"model: {tiny_bert_dir}\ntasks: [{TASK}]\nseeds: [1]\ndata_dir: {SHARED_DATA}\n"
        f"mlflow: {{experiment: {name}}}\nresources: {{cpus_per_trial: 1}}\n{SUBSPACE_TINY}"
    )
    logs = _submit_sweep_job(local_cluster, sweep, name, tmp_path / "home", {}, timeout=600)
    tables = read_tables(Client(tracking_uri=local_cluster.tracking_uri, experiment=name), name)
    assert tables is not None and len(tables) == 1, logs
    assert tables[0].task == TASK and tables[0].seeds == [1]
    assert len(tables[0].transfer_pct) == 3


@pytest.mark.heavy
def test_stop_ends_every_process_it_started_and_frees_the_ports(
    local_cluster: LocalCluster,
) -> None:
    """Last in this module: it stops the module's cluster."""
    settings, state = local_cluster.settings, local_cluster.state
    leaders = [int((state / f"{s}.pid").read_text()) for s in ("mlflow", "ray-head", "ray-worker")]
    members = [pid for sid in leaders for pid in _session_members(sid)]
    assert len(members) > len(leaders)  # Ray's GCS, raylets, dashboard, uvicorn...

    stopped = time.monotonic()
    stop = _script("stop", settings, timeout=120)
    assert stop.returncode == 0, stop.stderr
    print(f"stop took {time.monotonic() - stopped:.0f}s")
    assert _alive_pids(members) == []
    for name in ("S3DELTA_MLFLOW_PORT", "S3DELTA_RAY_PORT", "S3DELTA_DASHBOARD_PORT"):
        assert not _listening(int(settings[name])), f"{name} still open after stop"
    assert _script("status", settings, timeout=60).returncode != 0
