"""Resolving where a sweep run writes: run dir, MLflow URI, Optuna storage, Ray address.

Precedence, highest first: command-line option, the sweep YAML, the environment
(`MLFLOW_TRACKING_URI`, `S3DELTA_OPTUNA_STORAGE`, `RAY_ADDRESS`), the defaults in
`orchestrator.paths`. Inside a Ray job every local path must lie outside the job's
unpacked working-dir copy, which Ray deletes; that is checked here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import paths


@dataclass(frozen=True)
class RunSettings:
    """Everything the driver needs to know about *where*, resolved and absolute."""

    run_dir: Path
    tracking_uri: str
    storage_url: str
    experiment: str
    address: str | None
    artifact_root: Path | None  # for database tracking stores; None for an MLflow server

    def prepare_folders(self) -> None:
        """Create the run dir and the folders of any SQLite files (SQLite will not)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for url in (self.tracking_uri, self.storage_url):
            db = _sqlite_file(url)
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)


def resolve_settings(
    sweep: Any,
    *,
    run_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    storage_url: str | None = None,
    address: str | None = None,
) -> RunSettings:
    """Apply the precedence rule and check the results are usable from a Ray job.

    `run_dir` is the explicit choice (option or the YAML's own `run_dir:`); None means
    the default `<home>/<sweep name>`.
    """
    chosen_dir = paths.resolve_run_dir(run_dir, sweep.name)
    uri = tracking_uri or sweep.mlflow.tracking_uri or paths.default_tracking_uri()
    uri = paths.check_tracking_uri(uri, "mlflow.tracking_uri")
    storage = storage_url or sweep.optuna.storage or paths.default_optuna_storage(chosen_dir)
    storage = paths.check_storage_url(storage, "optuna.storage")
    settings = RunSettings(
        run_dir=chosen_dir,
        tracking_uri=uri,
        storage_url=storage,
        experiment=sweep.mlflow.experiment,
        address=address or os.environ.get("RAY_ADDRESS") or None,
        artifact_root=_artifact_root(uri, chosen_dir),
    )
    _refuse_paths_in_job_copy(settings)
    return settings


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def _artifact_root(uri: str, run_dir: Path) -> Path | None:
    """Artifacts beside a SQLite store, or in the run dir for a database server store."""
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    db = _sqlite_file(uri)
    return (db.parent if db else run_dir) / "mlartifacts"


def _refuse_paths_in_job_copy(settings: RunSettings) -> None:
    if not paths.inside_ray_job():
        return
    copy = Path.cwd().resolve()
    local = {
        "run dir": settings.run_dir,
        "MLflow SQLite file": _sqlite_file(settings.tracking_uri),
        "Optuna SQLite file": _sqlite_file(settings.storage_url),
    }
    for what, path in local.items():
        if path is not None and path.resolve().is_relative_to(copy):
            raise paths.PathSettingError(
                f"{what} {path} lies inside the Ray job's temporary working-dir copy {copy}, "
                f"which is deleted after the job; set {paths.HOME_ENV} or give absolute "
                "paths outside the repository (see docs/cluster.md)"
            )
