"""`ray job submit` for the cluster tests, without depending on Ray's log stream.

`ray job submit` without `--no-wait` tails the job's logs over a WebSocket and exits 1
when that stream drops (close code 1006), even though the job itself goes on running:
ray-project/ray#57002 and #63364; it failed CI once on two cores. The tests submit with
the real CLI and `--no-wait`, then wait on the job's status over the dashboard's REST
API, which is what decides whether the job succeeded.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


REPO = Path(__file__).resolve().parents[1]
RAY = REPO / ".venv" / "bin" / "ray"


def get_json(url: str) -> Any:
    """GET a JSON reply (the dashboard's REST API)."""
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.load(reply)


def submit_sweep_and_wait(
    sweep: Path,
    *,
    dashboard: str,
    submission_id: str,
    runtime_env: dict[str, Any],
    env: dict[str, str],
    timeout_s: float,
) -> tuple[str, str]:
    """`ray job submit --working-dir REPO -- s3delta run SWEEP` and wait until the job
    ends. Returns (final status, what submit printed + the job's logs)."""
    submit = [str(RAY), "job", "submit", "--address", dashboard, "--submission-id",
              submission_id, "--no-wait", "--working-dir", str(REPO), "--runtime-env-json",
              json.dumps(runtime_env), "--", "s3delta", "run", str(sweep)]  # fmt: skip
    done = subprocess.run(submit, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    printed = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, printed
    deadline = time.monotonic() + timeout_s
    status = "PENDING"
    while time.monotonic() < deadline:
        status = get_json(f"{dashboard}/api/jobs/{submission_id}")["status"]
        if status in TERMINAL:
            break
        time.sleep(2)
    logs = get_json(f"{dashboard}/api/jobs/{submission_id}/logs")["logs"]
    assert status in TERMINAL, (
        f"job {submission_id} still {status} after {timeout_s} s\n{logs[-6000:]}"
    )
    return status, printed + logs[-6000:]
