"""Re-running a benchmark script on another checkout's code (``--code ROOT``), shared by
`refactor_identity` and `mlflow_layout_identity`: the script runs again with
``PYTHONPATH=ROOT`` from a neutral folder, and ROOT is passed in `env_name` so the rerun
can check its modules really came from there."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def rerun_with_code_root(script: str, code_root: Path, args: list[str], env_name: str) -> int:
    """Run `script` again with ``PYTHONPATH=code_root``; its exit status."""
    root = str(code_root.resolve())
    env = {**os.environ, "PYTHONPATH": root, env_name: root}
    env.pop("PYTHONSTARTUP", None)
    rc = subprocess.run([sys.executable, script, *args], env=env, cwd=tempfile.gettempdir())
    return rc.returncode
