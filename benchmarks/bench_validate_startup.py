"""Start-up time of `s3delta validate` (issue 11, point 8): it must not import torch.

Validating a sweep file reads YAML and checks fields; it has no use for torch, sklearn
or scipy, yet through the package ``__init__``s it used to import all three (about 3 s
of a 3.3 s command). This script times the real console script, best of ``--repeats``
fresh processes (best, not mean: on a shared machine the minimum is the figure least
disturbed by other work), and records which heavy libraries the command imported and
the project modules that pulled most import time (``python -X importtime``). CPU time
(user + system) is recorded beside wall time: on a machine shared with other work it is
the steadier of the two.

    .venv/bin/python benchmarks/bench_validate_startup.py --label after
    git archive 51e5ca5 | tar -x -C /tmp/old && ln -s /work/shared /tmp/shared
    .venv/bin/python benchmarks/bench_validate_startup.py --label before --tree /tmp/old --commit 51e5ca5

``--tree`` times another checkout of the code (an older commit) with the same console
script and interpreter: it goes first on PYTHONPATH and is the working directory.
Merges ``{label: {...}}`` into benchmarks/results/validate_startup.json, so the
``before`` figure measured on the old code stays beside the ``after`` one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "validate_startup.json"
HEAVY = ("torch", "transformers", "sklearn", "scipy", "pandas", "ray", "mlflow", "optuna")
# What `s3delta validate` does, in-process, so sys.modules can be read afterwards.
PROBE = (
    "import sys, json\n"
    "from orchestrator.cli import app\n"
    "try:\n"
    "    app(args=['validate', sys.argv[1]], prog_name='s3delta')\n"
    "except SystemExit as exit_:\n"
    "    code = exit_.code\n"
    "heavy = [name for name in {heavy!r} if name in sys.modules]\n"
    "print('@@' + json.dumps({{'code': code, 'heavy': heavy}}))\n"
)


TREE = REPO  # the checkout whose code is timed (--tree)


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if TREE != REPO:
        env["PYTHONPATH"] = str(TREE)
    return env


def time_command(command: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of
    `repeats` fresh runs of `command` (output discarded, exit 0 required). CPU time
    moves less than wall time when other work shares the machine."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=TREE, env=_env(), check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def heavy_imports(python: str, sweep: str) -> list[str]:
    """The heavy libraries a `validate` of `sweep` leaves in sys.modules."""
    done = subprocess.run(
        [python, "-c", PROBE.format(heavy=HEAVY), sweep],
        cwd=TREE,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(text for text in done.stdout.splitlines() if text.startswith("@@"))
    return list(json.loads(line[2:])["heavy"])


def import_culprits(python: str, sweep: str, top: int = 8) -> list[dict[str, object]]:
    """Project modules (and the libraries directly under them) with the largest cumulative
    import time, from ``python -X importtime``."""
    done = subprocess.run(
        [python, "-X", "importtime", "-c", PROBE.format(heavy=HEAVY), sweep],
        cwd=TREE,
        env=_env(),
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.rstrip()))
    project = ("orchestrator", "workers", "search_space", "dashboards")
    kept = [
        {"module": name.strip(), "depth": (len(name) - len(name.lstrip())) // 2, "ms": us / 1000}
        for us, name in rows
        if name.strip().split(".")[0] in project + HEAVY
    ]
    kept.sort(key=lambda row: -float(row["ms"]))  # type: ignore[arg-type]
    return kept[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", required=True, help="key in the results file, e.g. before")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep", default="examples/quickstart.yaml")
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout to time")
    parser.add_argument("--commit", help="the commit --tree holds (recorded as given)")
    args = parser.parse_args()
    global TREE
    TREE = args.tree.resolve()
    venv = REPO / ".venv" / "bin"
    python = str(venv / "python") if (venv / "python").exists() else sys.executable
    command = [str(venv / "s3delta"), "validate", args.sweep]
    baseline, _ = time_command([python, "-c", "pass"], args.repeats)
    times, cpu_times = time_command(command, args.repeats)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=TREE, capture_output=True, text=True
    ).stdout.strip()
    entry = {
        "command": " ".join([".venv/bin/s3delta", "validate", args.sweep]),
        "best_s": round(min(times), 3),
        "times_s": [round(t, 3) for t in times],
        "best_cpu_s": round(min(cpu_times), 3),
        "cpu_times_s": [round(t, 3) for t in cpu_times],
        "bare_python_best_s": round(min(baseline), 3),
        "heavy_modules_imported": heavy_imports(python, args.sweep),
        "largest_imports": import_culprits(python, args.sweep),
        "commit": commit,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = entry
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({args.label: entry}, indent=2))


if __name__ == "__main__":
    main()
