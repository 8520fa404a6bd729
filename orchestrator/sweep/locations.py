"""Paths and database URLs in a sweep file, made absolute.

Trials run from an unpacked copy of the job on some worker, so any relative path
would point somewhere else there; every path is resolved against the sweep file's
folder when the file is loaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

OPTUNA_DIALECTS = ("sqlite", "postgresql", "mysql")
MLFLOW_DB_DIALECTS = ("sqlite", "postgresql", "mysql", "mssql")


def with_installed_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 defaults to
    psycopg 3, s3delta ships psycopg2, so a plain URL would fail with ModuleNotFoundError."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def resolve_path(value: str, base_dir: Path) -> Path:
    """`value` relative to `base_dir` (with ``~`` expanded), absolute and normalised."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return path.resolve()


def resolve_database_url(url: str, base_dir: Path, dialects: tuple[str, ...], fix: str) -> str:
    """A SQLAlchemy URL with any relative sqlite file made absolute; ValueError names the fix."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{url!r} is not a database URL; {fix}") from None
    dialect = parsed.get_backend_name()
    if dialect not in dialects:
        raise ValueError(f"database {dialect!r} in {url!r} is not supported; {fix}")
    if dialect != "sqlite":
        return with_installed_driver(url)
    database = parsed.database
    if not database or database == ":memory:":
        raise ValueError(
            f"{url!r} is an in-memory database, which trial processes cannot share; {fix}"
        )
    absolute = resolve_path(database, base_dir)
    return parsed.set(database=str(absolute)).render_as_string(hide_password=False)


def resolve_tracking_uri(uri: str, base_dir: Path) -> str:
    """An MLflow tracking URI MLflow 3 accepts: a database URL or an http(s) server."""
    fix = (
        "use sqlite:///<path>/mlflow.db (relative paths resolve against the sweep file), "
        "postgresql://user@host/db, http(s)://host:port of an MLflow server, "
        "or null for the default sqlite file under run_dir"
    )
    scheme = urlsplit(uri).scheme.lower()
    if uri == "databricks" or scheme == "databricks":
        return uri
    if scheme in ("http", "https"):
        if not urlsplit(uri).netloc:
            raise ValueError(f"{uri!r} names no host; {fix}")
        return uri
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        raise ValueError(
            f"{uri!r} is a plain path (MLflow's file store), which MLflow 3 refuses; {fix}"
        )
    return resolve_database_url(uri, base_dir, MLFLOW_DB_DIALECTS, fix)


def resolve_storage_url(url: str, base_dir: Path) -> str:
    """An Optuna RDB storage URL with an absolute sqlite path."""
    fix = (
        "use sqlite:///<path>/optuna.db (relative paths resolve against the sweep file), "
        "postgresql://user@host/db, or null for the default sqlite file under run_dir"
    )
    if "://" not in url:
        raise ValueError(f"{url!r} is a plain path, not a storage URL; {fix}")
    return resolve_database_url(url, base_dir, OPTUNA_DIALECTS, fix)
