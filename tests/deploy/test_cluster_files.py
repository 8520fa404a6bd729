"""The cloud cluster examples and the image: parse, pass Ray's own checks, agree on versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from compose_cli import DEPLOY_DIR, REPO
from ray.autoscaler._private.util import prepare_config, validate_config

AWS_YAML = DEPLOY_DIR / "ray-cluster.aws.yaml"
KUBERAY_YAML = DEPLOY_DIR / "kuberay-raycluster.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
    return loaded


def _pinned_ray_version() -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("ray["))
    return pin.split("==")[1]


@pytest.mark.parametrize("path", sorted(DEPLOY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_deploy_yaml_parses(path: Path) -> None:
    assert _load(path)


def test_aws_cluster_has_launcher_keys() -> None:
    config = _load(AWS_YAML)
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type", "docker"):
        assert key in config, f"{AWS_YAML.name} lacks {key}"
    assert config["head_node_type"] in config["available_node_types"]
    assert "setup_commands" in config and "file_mounts" in config


def test_aws_cluster_passes_ray_validation() -> None:
    """Ray's own launcher checks: defaults filled in, then its JSON schema and rules."""
    validate_config(prepare_config(_load(AWS_YAML)))


def test_ray_validation_rejects_a_wrong_cluster_file() -> None:
    config = _load(AWS_YAML)
    config["head_node_type"] = "no-such-type"
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepare_config(config))


def test_aws_cluster_uses_gcs_port_6380() -> None:
    config = _load(AWS_YAML)
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    assert "--head --port=6380" in head
    assert "--address=$RAY_HEAD_IP:6380" in worker


def test_kuberay_cluster_matches_ray_and_gcs_port() -> None:
    manifest = _load(KUBERAY_YAML)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    spec = manifest["spec"]
    assert spec["rayVersion"] == ray.__version__ == _pinned_ray_version()
    head = spec["headGroupSpec"]
    container = head["template"]["spec"]["containers"][0]
    gcs = next(p for p in container["ports"] if p["name"] == "gcs-server")
    assert head["rayStartParams"]["port"] == str(gcs["containerPort"]) == "6380"
    for group in spec["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1", group["groupName"]


def test_dockerfile_base_matches_the_ray_pin() -> None:
    text = DOCKERFILE.read_text()
    match = re.search(r"^ARG RAY_IMAGE=rayproject/ray:([\d.]+)-py311-gpu$", text, re.M)
    assert match, "docker/Dockerfile must default RAY_IMAGE to rayproject/ray:<ver>-py311-gpu"
    assert match.group(1) == _pinned_ray_version() == ray.__version__
    assert "pip install . ${EXTRA_PIP_PACKAGES}" in text
    assert "torch==2.13.0" in text


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "runs", "mlruns", ".env"):
        assert entry in ignored, f".dockerignore should list {entry}"
