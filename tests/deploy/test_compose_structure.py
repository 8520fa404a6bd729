"""docker-compose.yml's deployment rules, read with PyYAML (no Compose CLI needed)."""

from __future__ import annotations

from typing import Any

import pytest

BIND_PREFIX = "${S3DELTA_BIND:-127.0.0.1}:"
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}


def _services(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return raw["services"]


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_only_mlflow_and_ray_head_publish_ports(raw_compose: dict[str, Any]) -> None:
    publishing = {name for name, svc in _services(raw_compose).items() if svc.get("ports")}
    assert publishing == {"mlflow", "ray-head"}
    for name, svc in _services(raw_compose).items():
        assert "expose" not in svc, f"{name} should not expose ports beyond the network"


@pytest.mark.parametrize(("service", "target"), [("mlflow", 5000), ("ray-head", 8265)])
def test_published_ports_are_bound_to_the_bind_variable(
    raw_compose: dict[str, Any], service: str, target: int
) -> None:
    ports = _services(raw_compose)[service]["ports"]
    assert len(ports) == 1
    assert isinstance(ports[0], str)
    assert ports[0].startswith(BIND_PREFIX), ports[0]
    assert ports[0].endswith(f":{target}"), ports[0]


def test_every_service_has_healthcheck_and_restart(raw_compose: dict[str, Any]) -> None:
    for name, svc in _services(raw_compose).items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") in RESTART_POLICIES, f"{name} has no restart policy"


def test_worker_reserves_nvidia_gpus_from_a_variable(raw_compose: dict[str, Any]) -> None:
    worker = _services(raw_compose)["ray-worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [
        {"driver": "nvidia", "count": "${S3DELTA_GPUS_PER_WORKER:-1}", "capabilities": ["gpu"]}
    ]


def test_worker_can_be_scaled(raw_compose: dict[str, Any]) -> None:
    worker = _services(raw_compose)["ray-worker"]
    assert "container_name" not in worker and "hostname" not in worker
    assert "--address=ray-head:6380" in _command(worker)
    assert "--block" in _command(worker)


def test_ray_head_uses_gcs_port_6380_and_open_dashboard(raw_compose: dict[str, Any]) -> None:
    command = _command(_services(raw_compose)["ray-head"])
    assert "--head" in command and "--port=6380" in command
    assert "--dashboard-host=0.0.0.0" in command and "--dashboard-port=8265" in command


def test_ray_nodes_share_auth_mode_and_storage_env(raw_compose: dict[str, Any]) -> None:
    head = _services(raw_compose)["ray-head"]["environment"]
    worker = _services(raw_compose)["ray-worker"]["environment"]
    assert head == worker
    assert head["RAY_AUTH_MODE"] == "${RAY_AUTH_MODE:-disabled}"
    assert head["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert head["S3DELTA_OPTUNA_STORAGE"].startswith("postgresql+psycopg2://")
    assert head["S3DELTA_OPTUNA_STORAGE"].endswith("@postgres:5432/optuna")


def test_postgres_keeps_data_in_a_named_volume(raw_compose: dict[str, Any]) -> None:
    postgres = _services(raw_compose)["postgres"]
    assert postgres["image"] == "postgres:16"
    mounts = dict(v.split(":", 1) for v in postgres["volumes"])
    data_volume = next(src for src, dst in mounts.items() if dst == "/var/lib/postgresql/data")
    assert data_volume in raw_compose["volumes"]
    assert mounts["./docker/postgres-init"] == "/docker-entrypoint-initdb.d:ro"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_mlflow_server_settings(raw_compose: dict[str, Any]) -> None:
    mlflow = _services(raw_compose)["mlflow"]
    command = _command(mlflow)
    assert "--workers 1" in command
    assert "--backend-store-uri postgresql+psycopg2://" in command
    assert "@postgres:5432/mlflow" in command
    assert "--serve-artifacts" in command and "--artifacts-destination" in command
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "mlflow:5000" in mlflow["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"]
    assert "/health" in " ".join(mlflow["healthcheck"]["test"])
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
