"""Where a trial's time goes, and the old commit against the new one (issue 9).

Runs the same trial configs in fresh subprocesses, alternating old and new code
(old, new, old, new, ...) so that drifting load hits both alike, and saves to
``benchmarks/results/trial_breakdown.json``:

- per config: wall and CPU seconds of each side, the ratios old/new of the best of each
  (CPU time is the steadier measure when other jobs share the machine), whether dev and test scores
  agree, and the new code's time breakdown (model load, data, search steps, retrain
  steps, evaluation, checkpoints, other);
- ``eval_batch_sizes``: seconds to evaluate a dev split at several batch sizes with the
  length-sorted evaluation (what the default ``eval_batch_size`` rests on).

Configs: ``quickstart`` = the quick start's trial settings (examples/quickstart.yaml,
s3delta and random); ``default`` = `TrialConfig()` defaults on SST-2 (300 + 300 steps,
batch 32, length 128, the full training set, every core) — long, so it is opt-in.
The old code is a git worktree of ``--old`` (default: the commit before issue 9) run
with this venv; nothing is installed.

    python benchmarks/bench_trial_breakdown.py                       # quickstart, 2 rounds
    python benchmarks/bench_trial_breakdown.py --configs quickstart-s3delta default
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATA = REPO.parent / "shared" / "data"
OLD = "9a4c4b0"  # main before issue 9 (one-pass evaluation, cache, breakdown)

QUICKSTART = dict(  # examples/quickstart.yaml's training section, with its tuned-range midpoint lr
    task="glue/sst2",
    budget="0.01%",
    seed=1,
    max_train_examples=500,
    max_eval_examples=200,
    max_length=48,
    batch_size=16,
    search_steps=30,
    retrain_steps=30,
    eval_every=15,
    num_threads=1,
    delta_lr=5e-3,
)
CONFIGS: dict[str, dict[str, Any]] = {
    "quickstart-s3delta": {**QUICKSTART, "method": "s3delta"},
    "quickstart-random": {**QUICKSTART, "method": "random"},
    "default": {"task": "glue/sst2"},  # every other field at its TrialConfig default
}

CHILD = r"""
import json, os, resource, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
import workers
from workers.trial import run_trial
from workers.trial_types import TrialConfig
cfg = TrialConfig(**json.loads(sys.argv[1]))
start = time.perf_counter()
r = run_trial(cfg)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({
    "code": os.path.dirname(workers.__file__), "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "dev": r.dev, "test": r.test,
    "dev_score": r.dev_score, "test_score": r.test_score, "structure": r.structure,
    "timings": getattr(r, "timings", None),
}))
"""


def _child(code_root: Path, config: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code_root), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONSTARTUP", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    if Path(result["code"]).resolve() != (code_root / "workers").resolve():
        raise RuntimeError(f"ran code from {result['code']}, expected {code_root}")
    return result


def _chosen(structure: dict[str, Any] | None) -> list[tuple[str, str, int]]:
    entries = (structure or {}).get("entries", [])
    return sorted((e["path"], e["kind"], int(e["size"])) for e in entries)


def _worktree(commit: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="s3delta-old-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(path), commit],
        check=True,
        capture_output=True,
    )
    return path


def compare(configs: list[str], rounds: int, old: str) -> dict[str, Any]:
    old_root = _worktree(old)
    out: dict[str, Any] = {}
    try:
        for name in configs:
            config = {**CONFIGS[name], "data_dir": str(DATA)}
            sides: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
            for r in range(rounds):
                for side, root in (("old", old_root), ("new", REPO)):
                    run_cfg = dict(config)
                    if side == "new":  # a fresh cache per round: the first trial of a sweep
                        run_cfg["cache_dir"] = tempfile.mkdtemp(prefix="s3delta-cache-")
                    res = _child(root, run_cfg)
                    sides[side].append(res)
                    print(
                        f"{name} round {r + 1} {side}: {res['wall']:.1f}s wall, "
                        f"{res['cpu']:.1f}s CPU (process total)",
                        flush=True,
                    )
            old_walls = [x["wall"] for x in sides["old"]]
            new_walls = [x["wall"] for x in sides["new"]]
            old_cpu = [x["cpu"] for x in sides["old"]]
            new_cpu = [x["cpu"] for x in sides["new"]]
            o, n = sides["old"][0], sides["new"][0]
            timings = sides["new"][-1]["timings"] or {}
            share = (
                timings.get("evaluation", 0) + timings.get("model_load", 0) + timings.get("data", 0)
            ) / max(timings.get("wall", 1), 1e-9)
            out[name] = {
                "config": config,
                "old_wall_s": old_walls,
                "new_wall_s": new_walls,
                "old_cpu_s": old_cpu,
                "new_cpu_s": new_cpu,
                "speedup_wall": min(old_walls) / min(new_walls),
                # CPU seconds of the whole process (imports included): less sensitive than
                # wall time to other jobs on a shared machine
                "speedup_cpu": min(old_cpu) / min(new_cpu),
                "scores_equal": {
                    "dev_score": abs(o["dev_score"] - n["dev_score"]) < 1e-6,
                    "test_score": abs(o["test_score"] - n["test_score"]) < 1e-6,
                    # what was chosen: position, kind and size of each entry (the file's own
                    # layout changed in issue 11: per-kind options instead of rank/width on
                    # every entry)
                    "structure": _chosen(o["structure"]) == _chosen(n["structure"]),
                },
                "old_scores": {"dev": o["dev"], "test": o["test"]},
                "structures": {"old": _chosen(o["structure"]), "new": _chosen(n["structure"])},
                "new_scores": {"dev": n["dev"], "test": n["test"]},
                "new_breakdown_s": timings,
                "eval_load_data_share": share,
            }
            print(json.dumps(out[name], indent=1), flush=True)
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_root)],
            check=False,
            capture_output=True,
        )
    return out


def eval_batch_sizes(sizes: list[int]) -> dict[str, Any]:
    """Seconds to evaluate 600 dev examples (SST-2, length 48; RTE, length 128) per batch size."""
    import torch

    from search_space import load_backbone
    from workers.data import cap_splits, encode_for_encoder, get_task, load_task, make_splits
    from workers.evaluate import evaluate
    from workers.task_model import TaskModel

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    for task, length in (("glue/sst2", 48), ("glue/rte", 128)):
        spec = get_task(task)
        splits = cap_splits(make_splits(load_task(task, str(DATA)), spec, 1), 1, None, 600)
        backbone, tok = load_backbone("sentence-transformers/all-MiniLM-L6-v2")
        model = TaskModel(backbone, spec, False)
        encoded = encode_for_encoder(spec, splits.dev, tok, length)
        row = {}
        for size in sizes:
            start = time.perf_counter()
            evaluate(model, encoded, splits.dev, size, torch.device("cpu"))
            row[str(size)] = round(time.perf_counter() - start, 3)
        out[task] = {"examples": len(splits.dev), "max_length": length, "seconds": row}
        print(task, row, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["quickstart-s3delta", "quickstart-random"],
        choices=list(CONFIGS),
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--old", default=OLD)
    parser.add_argument("--eval-batch-sizes", type=int, nargs="*", default=[16, 32, 64, 128, 256])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "trial_breakdown.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved.setdefault("configs", {})
    saved["machine"] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "old_commit": args.old,
        "new_commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }
    saved["configs"].update(compare(args.configs, args.rounds, args.old))
    if args.eval_batch_sizes:
        saved["eval_batch_sizes"] = eval_batch_sizes(args.eval_batch_sizes)
    saved["machine"]["loadavg_at_end"] = os.getloadavg()
    path.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
