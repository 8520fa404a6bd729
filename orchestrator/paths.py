"""Where a sweep's files live, and the default storage URIs derived from that.

Why one module: the driver, the Ray workers and the results client must agree on
paths, and a job submitted with `ray job submit --working-dir .` runs from an
unpacked *copy* of the repository, so anything relative to the current directory
would silently land inside that throwaway copy. Every path returned here is absolute.

Home directory (holds the shared MLflow database and one run dir per sweep):
1. `$S3DELTA_HOME` when set (must be absolute);
2. inside a Ray job (env `RAY_JOB_CONFIG_JSON_ENV_VAR` is set by the job supervisor):
   `~/s3delta-runs`, a stable place outside the unpacked copy;
3. otherwise `<current directory>/runs`.

Per sweep: run dir `<home>/<sweep name>` (override with `--run-dir` or `run_dir:`),
holding `optuna.db`, `trials/<trial key>/` (outputs and checkpoints) and a copy of
the sweep YAML. MLflow defaults to `sqlite:///<home>/mlflow.db` so that
`s3delta results` sees every sweep without flags.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from orchestrator import locations
from workers import names

HOME_ENV = "S3DELTA_HOME"
OPTUNA_STORAGE_ENV = "S3DELTA_OPTUNA_STORAGE"
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"
RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class PathSettingError(ValueError):
    """A path or URI that cannot work (relative, wrong scheme); the message says the fix."""


def inside_ray_job() -> bool:
    """True when this process is the driver of a `ray job submit` job."""
    return RAY_JOB_ENV in os.environ


def s3delta_home() -> Path:
    """The absolute home directory for runs (see the module docstring for the rule)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        home = Path(configured).expanduser()
        if not home.is_absolute():
            raise PathSettingError(
                f"{HOME_ENV}={configured!r} is relative; set it to an absolute path "
                "such as /data/s3delta-runs (jobs run from an unpacked copy of the repo)"
            )
        return home
    if inside_ray_job():
        return Path.home() / "s3delta-runs"
    return Path.cwd() / "runs"


def default_run_dir(sweep_name: str) -> Path:
    """`<home>/<sweep name>` with characters unsafe in folder names replaced."""
    return s3delta_home() / safe_name(sweep_name)


def resolve_run_dir(run_dir: str | Path | None, sweep_name: str) -> Path:
    """An explicit run dir made absolute (from the submitting cwd), else the default."""
    if run_dir is None:
        return default_run_dir(sweep_name)
    path = Path(run_dir).expanduser()
    if not path.is_absolute():
        if inside_ray_job():
            raise PathSettingError(
                f"run dir {str(run_dir)!r} is relative inside a Ray job, where the current "
                "directory is a temporary copy; pass an absolute --run-dir or set "
                f"{HOME_ENV}"
            )
        path = Path.cwd() / path
    return path.resolve()


def default_tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the embedded SQLite store under the home directory."""
    env = os.environ.get(MLFLOW_URI_ENV)
    if env:
        return check_tracking_uri(env, MLFLOW_URI_ENV)
    return sqlite_uri(s3delta_home() / "mlflow.db")


def default_optuna_storage(run_dir: Path) -> str:
    """`$S3DELTA_OPTUNA_STORAGE`, else SQLite in the sweep's run dir."""
    env = os.environ.get(OPTUNA_STORAGE_ENV)
    if env:
        return check_storage_url(env, OPTUNA_STORAGE_ENV)
    return sqlite_uri(run_dir / "optuna.db")


def sqlite_uri(path: Path) -> str:
    """A SQLAlchemy SQLite URL for an absolute path (four slashes in total)."""
    return f"sqlite:///{path.resolve()}"


def check_tracking_uri(uri: str, where: str) -> str:
    """An MLflow tracking URI from an option or the environment (`orchestrator.locations`:
    the rules of the sweep file, but SQLite must be absolute)."""
    try:
        return locations.tracking_uri(uri)
    except ValueError as err:
        raise PathSettingError(f"{where}: {err}") from None


def check_storage_url(url: str, where: str) -> str:
    """An Optuna storage URL from an option or the environment (see `check_tracking_uri`)."""
    try:
        return locations.storage_url(url)
    except ValueError as err:
        raise PathSettingError(f"{where}: {err}") from None


def safe_name(text: str) -> str:
    """Text usable as one folder name: letters, digits, dot, dash and underscore."""
    return names.safe_name(text)


def redact_url(url: str) -> str:
    """The URL (or any text holding URLs) with passwords replaced, for output, files and tags.

    Covers ``user:password@`` (a password may itself hold '@') and ``password=`` in a
    query string."""
    text = re.sub(r"(://[^:/@\s]*:)[^/\s]*@", r"\1***@", url)
    return re.sub(r"((?:password|passwd|pwd)=)[^&\s]*", r"\1***", text, flags=re.IGNORECASE)
