"""A store that went away for a moment (a PostgreSQL restart, an MLflow server restarted,
a network blip) is waited for.

Before, the first Optuna call that met a restarting server raised Optuna's
`StorageInternalError` ("invalid data in the commit, e.g. exceeding max length") and the
driver crashed. Calls to an Optuna RDB storage on a server now retry connection errors
with growing pauses (0.5 s up to 5 s) for at most `RETRY_S`, saying once on stderr that
the store is unreachable and once that it is back; past `RETRY_S` a one-line
`StoreUnreachableError` names the store. Errors about the data itself, and SQLite files
(whose "database or disk is full" must not be waited on), are not retried.

The driver's MLflow client is wrapped the same way (`retry_client`), with MLflow's own
silent HTTP retries cut to 2. Once a stop signal came (`stop_now`, from `stop.py`)
nothing is waited for any more and MLflow tries each request once with a 5 s timeout, so
SIGTERM ends the driver within seconds even while a store is away; what could not be
closed then is left for `--resume` or `s3delta runs --gc`.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from orchestrator.paths import redact_url

RETRY_S = 120.0
# how an MLflow REST call says the server is away
_HTTP_DOWN = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish a new connection",
    "failed with timeout exception",
    "Connection aborted",
    "RemoteDisconnected",
)
_FIRST_PAUSE_S, _MAX_PAUSE_S = 0.5, 5.0
# every storage method that talks to the database (optuna 4/5 RDBStorage)
_METHODS = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    "get_n_trials",
)


_stopping = False
_STOP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
_env_before: dict[str, str | None] = {}


def stop_now() -> None:
    """A stop signal came: no more waiting for stores (see the module text)."""
    global _stopping
    _stopping = True
    for name, value in _STOP_ENV.items():
        _env_before.setdefault(name, os.environ.get(name))
        os.environ[name] = value


def wait_again() -> None:
    """A new driver starts in this process (the Python API may run several): stores are
    waited for again, with MLflow's own settings as they were before the stop."""
    global _stopping
    _stopping = False
    for name, value in _env_before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _env_before.clear()


class StoreUnreachableError(RuntimeError):
    """A store stayed unreachable past the retry time; the message names it and the fix."""


def is_connection_error(error: BaseException) -> bool:
    """A lost or refused connection (worth waiting for), not a problem with the data."""
    from sqlalchemy import exc

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, exc.OperationalError | exc.InterfaceError):
            return True
        if type(current).__name__ in ("ConnectionError", "ConnectTimeout", "ReadTimeout") and (
            type(current).__module__.startswith(("requests", "urllib3"))
        ):
            return True
        text = str(current)
        if type(current).__name__ == "MlflowException" and any(part in text for part in _HTTP_DOWN):
            return True
        current = current.__cause__ or current.__context__
    return False


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def retrying(call: Callable[..., Any], what: str, retry_s: float = RETRY_S) -> Callable[..., Any]:
    """`call`, retried on connection errors for up to `retry_s` (see the module text)."""

    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started: float | None = None
        pause = _FIRST_PAUSE_S
        while True:
            try:
                result = call(*args, **kwargs)
            except Exception as error:
                if _stopping or not is_connection_error(error):
                    raise
                now = time.monotonic()
                if started is None:
                    started = now
                    _say(f"{what} is unreachable; retrying for up to {retry_s:.0f} s")
                elif now - started > retry_s:
                    raise StoreUnreachableError(
                        f"{what} has been unreachable for {retry_s:.0f} s "
                        f"({type(error).__name__}); start it or fix the URL, then continue "
                        "with --resume"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
                continue
            if started is not None:
                _say(f"{what} is reachable again; going on")
            return result

    return wrapper


def retry_storage(storage: Any, url: str, retry_s: float = RETRY_S) -> Any:
    """Make an Optuna RDB storage on a server wait out short outages (SQLite: unchanged)."""
    if url.startswith("sqlite"):
        return storage
    what = f"the Optuna storage {redact_url(url)}"
    for name in _METHODS:
        method = getattr(storage, name, None)
        if method is not None:
            setattr(storage, name, retrying(method, what, retry_s))
    return storage


def retry_client(client: Any, uri: str, retry_s: float = RETRY_S) -> Any:
    """Make an MlflowClient on a server (http, PostgreSQL) wait out short outages, said."""
    if not uri.startswith(("http://", "https://", "postgresql", "mysql")):
        return client
    if uri.startswith("http"):  # MLflow's own retries are silent: keep them short
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    what = f"the MLflow tracking store {redact_url(uri)}"
    for name in dir(client):
        if name.startswith("_"):
            continue
        method = getattr(client, name, None)
        if callable(method) and getattr(method, "__self__", None) is client:
            setattr(client, name, retrying(method, what, retry_s))
    return client
