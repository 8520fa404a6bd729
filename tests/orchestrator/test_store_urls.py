"""One set of rules for store URLs: an option or environment variable (`paths`) accepts
exactly what a sweep file (`sweep.sections`) accepts, except relative SQLite paths,
which only a sweep file can resolve (against its folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import locations, paths

TRACKING = [
    "sqlite:////abs/mlflow.db",
    "postgresql://u@h/db",
    "mysql://u@h/db",
    "mssql://u@h/db",
    "http://host:5000",
    "https://",
    "databricks",
    "./mlruns",
    "file:///abs/mlruns",
    "sqlite:///:memory:",
    "redis://h/0",
    "not a url at all",
]
STORAGE = [
    "sqlite:////abs/optuna.db",
    "postgresql://u@h/db",
    "mysql://u@h/db",
    "mssql://u@h/db",
    "optuna.db",
    "sqlite:///:memory:",
    "redis://h/0",
]


def _accepted(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("uri", TRACKING)
def test_tracking_uri_rules_agree(uri: str, tmp_path: Path) -> None:
    from_file = _accepted(locations.tracking_uri, uri, tmp_path)
    from_option = _accepted(paths.check_tracking_uri, uri, "mlflow.tracking_uri")
    assert from_file == from_option, uri


@pytest.mark.parametrize("url", STORAGE)
def test_storage_url_rules_agree(url: str, tmp_path: Path) -> None:
    from_file = _accepted(locations.storage_url, url, tmp_path)
    from_option = _accepted(paths.check_storage_url, url, "optuna.storage")
    assert from_file == from_option, url


def test_only_a_sweep_file_resolves_a_relative_sqlite_path(tmp_path: Path) -> None:
    assert locations.storage_url("sqlite:///o.db", tmp_path) == f"sqlite:///{tmp_path}/o.db"
    with pytest.raises(paths.PathSettingError, match="four slashes"):
        paths.check_storage_url("sqlite:///o.db", "optuna.storage")
    assert paths.check_storage_url("sqlite:////abs/o.db", "x") == "sqlite:////abs/o.db"
