"""Quiet the libraries' own progress bars and INFO lines in trial workers and exports.

Why: Ray forwards every worker's stderr into the driver's log, so each trial's
"Loading weights" tqdm bar (transformers) and hub INFO lines would land there with raw
ANSI codes. s3delta's own progress (the sweep table, `s3delta trial` bars) is unaffected.
"""

from __future__ import annotations

import logging
import os
import sys

QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}


def quiet_libraries() -> None:
    """Set the environment above (unless set) and apply it to libraries already imported."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


class _DropStartingWith(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefix)


def quiet_startup_logs() -> None:
    """Drop the lines every command would print and no user acts on: MLflow's INFO lines
    while it creates or migrates a SQLite store, and Ray's notice that the embedded,
    loopback-only cluster uses token authentication (its default; the warning that a
    cluster runs *without* authentication still shows)."""
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    ray_auth = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _DropStartingWith) for f in ray_auth.filters):
        ray_auth.addFilter(_DropStartingWith("Token authentication is enabled"))
