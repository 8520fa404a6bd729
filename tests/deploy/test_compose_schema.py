"""docker-compose.yml against the Compose schema, via the Compose CLI's offline `config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_cli import COMPOSE_FILE, TEST_PASSWORD, render


def test_compose_file_is_valid(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == {"postgres", "mlflow", "ray-head", "ray-worker"}


def test_missing_password_is_refused_with_the_fix(tmp_path: Path) -> None:
    result = render(COMPOSE_FILE, {}, tmp_path)
    assert result.returncode != 0
    assert "S3DELTA_PG_PASSWORD" in result.stderr + result.stdout
    assert "openssl rand" in result.stderr + result.stdout


def test_published_ports_default_to_loopback(rendered: dict[str, Any]) -> None:
    for name in ("mlflow", "ray-head"):
        for port in rendered["services"][name]["ports"]:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port!r}"


def test_bind_variable_moves_both_ports(tmp_path: Path) -> None:
    env = {"S3DELTA_PG_PASSWORD": TEST_PASSWORD, "S3DELTA_BIND": "10.1.2.3"}
    config = render(COMPOSE_FILE, env, tmp_path).config
    for name in ("mlflow", "ray-head"):
        ports = config["services"][name]["ports"]
        assert all(("10.1.2.3" in str(p)) for p in ports), ports


def test_gpu_count_comes_from_the_variable(tmp_path: Path) -> None:
    env = {"S3DELTA_PG_PASSWORD": TEST_PASSWORD, "S3DELTA_GPUS_PER_WORKER": "4"}
    config = render(COMPOSE_FILE, env, tmp_path).config
    devices = config["services"]["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert str(devices[0]["count"]) == "4"


def _mutated(tmp_path: Path, service: str, key: str, value: Any) -> Path:
    """A copy of docker-compose.yml (anchors expanded) with one service key changed."""
    config = yaml.safe_load(COMPOSE_FILE.read_text())
    config["services"][service][key] = value
    broken = tmp_path / "docker-compose.broken.yml"
    broken.write_text(yaml.safe_dump(config, sort_keys=False))
    return broken


def test_unchanged_copy_still_passes(tmp_path: Path) -> None:
    """The mutation harness itself does not break the file (so the failures below are real)."""
    config = yaml.safe_load(COMPOSE_FILE.read_text())
    copy = tmp_path / "docker-compose.copy.yml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    assert render(copy, {"S3DELTA_PG_PASSWORD": TEST_PASSWORD}, tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("service", "key", "value", "expected"),
    [
        ("ray-worker", "gpus_please", True, "gpus_please"),
        ("mlflow", "ports", [{"target": "five-thousand", "published": 5000}], "target"),
        ("postgres", "restart", ["always"], "restart"),
        ("ray-head", "healthcheck", {"test": ["CMD", "true"], "retries": "many"}, "retries"),
    ],
)
def test_broken_compose_file_is_rejected(
    tmp_path: Path, service: str, key: str, value: Any, expected: str
) -> None:
    broken = _mutated(tmp_path, service, key, value)
    result = render(broken, {"S3DELTA_PG_PASSWORD": TEST_PASSWORD}, tmp_path)
    assert result.returncode != 0, f"compose accepted a broken {service}.{key}"
    assert expected in result.stderr + result.stdout
