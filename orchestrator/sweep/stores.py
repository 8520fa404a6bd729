"""Can the sweep's MLflow store and Optuna storage be created or reached? Checked, not touched.

`validate` and `run` ask this before Ray or MLflow start, so `sqlite:////etc` (a folder),
a read-only location or an unreachable PostgreSQL is one line with the fix instead of
endless retries or a traceback. SQLite files are not created here: only the nearest
existing folder is checked for write permission. Database servers get one connection
with a short timeout; MLflow servers one request to `/health`. Messages never show a
password.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from orchestrator.paths import redact_url

CONNECT_TIMEOUT_S = 5


def store_problems(tracking_uri: str, storage_url: str) -> list[str]:
    """One line per store that cannot work: `mlflow.tracking_uri` first, then `optuna.storage`."""
    problems = []
    for where, url in (("mlflow.tracking_uri", tracking_uri), ("optuna.storage", storage_url)):
        reason = _problem(url)
        if reason:
            problems.append(f"{where}: {redact_url(url)} {reason}")
    return list(dict.fromkeys(problems))


def _problem(url: str) -> str | None:
    if url.startswith("sqlite:"):
        return _sqlite_problem(url)
    if url.startswith(("http://", "https://")):
        return _http_problem(url)
    if url.startswith(("postgresql", "mysql", "mssql")):
        return _server_problem(url)
    return None


def _sqlite_problem(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database or ""
    path = Path(database)
    if path.is_dir():
        return "names a folder, not a database file; give a file path such as sqlite:////data/runs/mlflow.db"
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            return "cannot be written (no permission); give a file you can write, or fix its permissions"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is a file, not a folder; choose another location"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return (
            f"cannot be created: no write permission in {ancestor}; choose a folder you can write"
        )
    return None


def _server_problem(url: str) -> str | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
        )
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except ModuleNotFoundError as err:
        return (
            f"needs the driver {err.name!r}, which is not installed; use postgresql+psycopg2://..."
        )
    except Exception as err:  # OperationalError, bad port, unknown host, refused login
        first = " ".join(str(getattr(err, "orig", None) or err).split())[:200]
        return (
            f"cannot be reached ({type(err).__name__}: {redact_url(first)}); start the database "
            "or fix host, port, user and database name"
        )
    return None


def _http_problem(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=CONNECT_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None  # something answers; MLflow itself reports what it dislikes
    except (OSError, ValueError) as err:
        reason = " ".join(str(getattr(err, "reason", err)).split())[:200]
        return f"cannot be reached ({reason}); start the MLflow server or fix the address"
