"""Paths and store URLs that users set, made absolute and checked: one set of rules.

Trials run from an unpacked copy of the job on some worker, so any relative path would
point somewhere else there: paths in a sweep file resolve against the file's folder
when it is loaded. MLflow tracking URIs and Optuna storage URLs come from a sweep file
(`orchestrator.sweep.sections`: a relative SQLite path resolves against its folder) or
from an option or environment variable (`orchestrator.paths`: there is no folder to
resolve against, so SQLite must be absolute); both go through the same checks here, so
a URL accepted in one place is accepted in the other. Outside `orchestrator.sweep`, so
`paths` can use it without importing the sweep package.
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


def database_url(url: str, base_dir: Path | None, dialects: tuple[str, ...], fix: str) -> str:
    """A SQLAlchemy URL with its SQLite file absolute (resolved against `base_dir`, or
    refused when relative and there is none); ValueError names the fix."""
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
    if base_dir is None:
        if not Path(database).is_absolute():
            raise ValueError(
                f"{url!r} is not an absolute SQLite URL; write sqlite:////absolute/path/file.db "
                "(four slashes before an absolute path)"
            )
        return url
    absolute = resolve_path(database, base_dir)
    return parsed.set(database=str(absolute)).render_as_string(hide_password=False)


def _fix(file: str, base_dir: Path | None, server: str = "") -> str:
    """What to write instead: in a sweep file relative paths work, elsewhere they don't."""
    if base_dir is not None:
        return (
            f"use sqlite:///<path>/{file} (relative paths resolve against the sweep file), "
            f"postgresql://user@host/db, {server}or null for the default sqlite file under run_dir"
        )
    return (
        f"use sqlite:////<absolute path>/{file}, postgresql://user@host/db, {server}"
        "or leave it unset for the default sqlite file"
    )


def tracking_uri(uri: str, base_dir: Path | None = None) -> str:
    """An MLflow tracking URI MLflow 3 accepts: a database URL or an http(s) server."""
    fix = _fix("mlflow.db", base_dir, "http(s)://host:port of an MLflow server, ")
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
    return database_url(uri, base_dir, MLFLOW_DB_DIALECTS, fix)


def storage_url(url: str, base_dir: Path | None = None) -> str:
    """An Optuna RDB storage URL with an absolute SQLite path."""
    fix = _fix("optuna.db", base_dir)
    if "://" not in url:
        raise ValueError(f"{url!r} is a plain path, not a storage URL; {fix}")
    return database_url(url, base_dir, OPTUNA_DIALECTS, fix)
