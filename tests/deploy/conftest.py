"""Fixtures for the deployment tests: the compose file as Compose and as PyYAML read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_cli import COMPOSE_FILE, TEST_PASSWORD, render


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    """docker-compose.yml as Compose resolves it with only the required variable set."""
    return render(COMPOSE_FILE, {"S3DELTA_PG_PASSWORD": TEST_PASSWORD}, tmp_path).config


@pytest.fixture(scope="session")
def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as PyYAML reads it (anchors and merge keys resolved)."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded
