"""The repo's deploy files and a Compose CLI to check them with.

Why a real Compose CLI: only Compose itself knows its schema, interpolation and merge
rules. No Docker engine runs here, but `config` parses and validates offline. The
Debian `docker-compose` package (scripts/install-system.sh) provides one; the v2 plugin
(`docker compose`) is used instead where it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY_DIR = REPO / "deploy"
TEST_PASSWORD = "0123456789abcdef"


@dataclass(frozen=True)
class Rendered:
    """What `compose config` said about one file."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def config(self) -> dict[str, Any]:
        assert self.returncode == 0, f"compose config failed:\n{self.stderr}"
        loaded = yaml.safe_load(self.stdout)
        assert isinstance(loaded, dict)
        return loaded


def compose_cli() -> list[str]:
    """The Compose command line to use, or a test failure that says how to install one."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail(
        "no Docker Compose CLI to validate docker-compose.yml: run scripts/install-system.sh "
        "(installs Debian's docker-compose) or install the docker compose plugin"
    )


def render(compose_file: Path, env: dict[str, str], tmp_path: Path) -> Rendered:
    """`compose config` of a file, with the repo as project dir and only the given env.

    An empty --env-file keeps a developer's own .env out of the result.
    """
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    cmd = [
        *compose_cli(),
        "--project-directory",
        str(REPO),
        "--env-file",
        str(empty_env_file),
        "-f",
        str(compose_file),
        "config",
    ]
    base_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**base_env, **env}, cwd=REPO, check=False
    )
    return Rendered(done.returncode, done.stdout, done.stderr)
