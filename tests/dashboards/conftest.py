"""A real sqlite MLflow store holding the sample sweep, shared by the dashboard tests."""

from __future__ import annotations

import pytest

from dashboards.sample_sweep import SampleSweep, write_sample_sweep
from orchestrator.results.client import Client


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSweep:
    root = tmp_path_factory.mktemp("dash_store")
    return write_sample_sweep(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts")


@pytest.fixture(scope="session")
def client(sample: SampleSweep) -> Client:
    return Client(sample.tracking_uri, sample.experiment)
