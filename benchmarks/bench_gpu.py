"""The GPU benchmark: one short script to run whenever a GPU machine is lent (issue 9, point 5).

CI never runs it. Without CUDA it exits 2 with one line saying so, unless ``--dry-run``
is given: then every part runs on the CPU with tiny sizes, to check the code paths.
Parts (``--parts``, default ``a,b,c,m``), each saved to the JSON as soon as it ends:

a. step cost against PEFT on the GPU: a first-order search step of the gated supernet
   (alpha step + w step), and a step of an applied structure (a random structure at the
   0.01% budget, as a trial retrains it), each against PEFT's LoRA r=1 on every attention
   and FFN linear (also the supernet's w step alone, the step bench_step_cost.py's CPU
   target is about); batch 32, length 128, built as bench_memory.py builds them (= as a
   trial does); steps interleaved (rotating order), each between `torch.cuda.synchronize`
   calls, median of ``--repeats``.
b. trials per hour with 1, 2 and 4 trials packed on the GPU: a temporary sweep YAML
   (SST-2, methods random and s3delta at 0.01%, 4 seeds = 8 trials, 100 search + 100
   retrain steps on 8,000 training examples, nothing tuned) run with ``s3delta run`` in
   a subprocess, with a fresh S3DELTA_HOME per packing, gpus_per_trial 1, 0.5, 0.25 and
   max_concurrent 1, 2, 4 (cpus_per_trial 3). trials/hour = finished trials / wall of the
   command x 3600; also per trial its wall, dev and test score (read back with the
   `Client`), and the span from the first trial's start to the last one's end.
c. bf16 autocast on and off: the same trial (SST-2, s3delta 0.01%, part b's training) with
   ``precision`` fp32 and bf16 for 3 seeds via `workers.trial.run_trial`, order alternating
   by seed; wall, step time, dev and test scores per seed, and the paired differences
   bf16 - fp32 (scores must stay equal within noise).
m. (for the spare time) bench_memory.py with ``--device cuda``: peak GPU memory of a search
   step against PEFT, written to benchmarks/results/memory_gpu.json.

Nothing new is started once ``--budget-s`` seconds (default 480; the machine is lent for
15 minutes in all) have passed, and a running sweep is stopped when they run out.
A part that fails is recorded with its error and the next one runs.

    python benchmarks/bench_gpu.py               # on the GPU machine -> results/gpu.json
    python benchmarks/bench_gpu.py --dry-run     # anywhere, CPU, tiny sizes, ~5 minutes

On a lent machine without this project's environment: the repository's packages import
from the checkout (no install needed); --model takes a local model folder and --data-dir
the folder holding glue/SST-2; part b needs ray, mlflow and optuna, and is skipped with
a note when one is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# the sibling script bench_memory.py builds the configurations (as a trial does)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import (
    DATA,
    MODEL,
    PEFT,
    REPO,
    SEARCH_O1,
    STRUCTURE,
    W_ONLY,
    build,
    fixed_length_rows,
)

RESULTS = REPO / "benchmarks" / "results" / "gpu.json"
VENV_BIN = Path(sys.executable).parent
EXIT_NO_GPU = 2


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each part is; the defaults fit about 6-8 minutes of an H200."""

    step_batch: int = 32
    step_length: int = 128
    step_warmup: int = 5
    step_repeats: int = 30
    sweep_seeds: int = 4
    precision_seeds: int = 3
    train_examples: int | None = 8000
    eval_examples: int | None = None
    max_length: int = 128
    batch_size: int = 32
    steps: int = 100  # search steps and retrain steps each
    eval_every: int = 50
    # (max_concurrent, gpus_per_trial)
    packings: tuple[tuple[int, float], ...] = ((1, 1.0), (2, 0.5), (4, 0.25))
    cpus_per_trial: float = 3.0
    memory_steps: int = 5


DRY_RUN = Sizes(
    step_batch=4,
    step_length=16,
    step_warmup=1,
    step_repeats=3,
    sweep_seeds=2,
    precision_seeds=2,
    train_examples=64,
    eval_examples=32,
    max_length=32,
    batch_size=8,
    steps=4,
    eval_every=2,
    packings=((1, 0.0), (2, 0.0), (4, 0.0)),
    cpus_per_trial=0.5,
    memory_steps=1,
)


class Bench:
    """Shared state of a run: sizes, device, clock, work folder, and the JSON saved so far."""

    def __init__(self, args: argparse.Namespace, sizes: Sizes) -> None:
        self.args, self.sizes = args, sizes
        self.dry = bool(args.dry_run)
        self.device = torch.device("cpu" if self.dry else "cuda")
        self.started = time.perf_counter()
        self.work = Path(tempfile.mkdtemp(prefix="s3delta-bench-gpu-"))
        self.out = Path(args.out or (self.work / "gpu_dry_run.json" if self.dry else RESULTS))
        self.data_dir = Path(args.data_dir)
        self.result: dict[str, Any] = header(self)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        return self.args.budget_s - self.elapsed()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def save(self) -> None:
        self.result["elapsed_s"] = round(self.elapsed(), 1)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.result, indent=2, default=str) + "\n")
        tmp.replace(self.out)

    def log(self, message: str) -> None:
        print(f"[{self.elapsed():6.1f} s] {message}", flush=True)


def header(bench: Bench) -> dict[str, Any]:
    import transformers

    cuda = torch.cuda.is_available() and not bench.dry
    try:
        import peft

        peft_version = peft.__version__
    except ImportError:
        peft_version = None
    return {
        "benchmark": "bench_gpu.py (issue 9, point 5)",
        "dry_run": bench.dry,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": torch.cuda.get_device_name() if cuda else f"CPU: {platform.machine()}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "transformers": transformers.__version__,
        "peft": peft_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "model": bench.args.model,
        "data_dir": str(bench.data_dir),
        "budget_s": bench.args.budget_s,
        "sizes": dataclasses.asdict(bench.sizes),
        "parts": {},
    }


# ---- a. step cost --------------------------------------------------------------------------


def part_a(bench: Bench) -> dict[str, Any]:
    """Supernet (first order) and applied-structure steps against PEFT LoRA r=1, interleaved."""
    from search_space import load_backbone

    s = bench.sizes
    names = (PEFT, SEARCH_O1, W_ONLY, STRUCTURE)
    steps: dict[str, Callable[[int], None]] = {}
    source = ""
    for name in names:
        backbone, tokenizer = load_backbone(bench.args.model)
        encoded, source = fixed_length_rows(
            tokenizer, 4 * s.step_batch, s.step_length, bench.data_dir
        )
        steps[name] = build(
            name, backbone, encoded, s.step_batch, bench.device, model_name=bench.args.model
        ).step
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(s.step_warmup + s.step_repeats):
        turn = index % len(names)
        order = names[turn:] + names[:turn]  # rotate: no configuration always goes first
        for name in order:
            bench.sync()
            start = time.perf_counter()
            steps[name](index + 1)
            bench.sync()
            if index >= s.step_warmup:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    bench.log(
        "step medians: " + ", ".join(f"{name} {1000 * value:.1f} ms" for name, value in med.items())
    )
    return {
        "batch": s.step_batch,
        "length": s.step_length,
        "warmup": s.step_warmup,
        "repeats": s.step_repeats,
        "data": source,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "median_step_s": {name: round(value, 6) for name, value in med.items()},
        "supernet_o1_over_peft": round(med[SEARCH_O1] / med[PEFT], 4),
        "supernet_w_only_over_peft": round(med[W_ONLY] / med[PEFT], 4),
        "structure_over_peft": round(med[STRUCTURE] / med[PEFT], 4),
        "cpu_reference": "step_cost.json (CPU): supernet w step 1.05x PEFT, target <= 1.3x",
        "step_s": {name: [round(t, 6) for t in values] for name, values in times.items()},
    }


# ---- b. trials per hour by packing ------------------------------------------------------

SWEEP = """\
name: {name}
model: {model}
tasks: [glue/sst2]
data_dir: {data}
methods: [random, s3delta]
budgets: ["0.01%"]
seeds: {seeds}
training:
{training}
optuna: {{sampler: tpe, seed: 0, trials_per_cell: 1}}
pruning: {{enabled: false}}
resources: {{cpus_per_trial: {cpus}, gpus_per_trial: {gpus}, max_concurrent: {concurrent}}}
mlflow: {{tracking_uri: null, experiment: bench-gpu}}
"""


def training_settings(sizes: Sizes) -> dict[str, Any]:
    """The trial settings parts b and c share (None = the TrialConfig default)."""
    settings = {
        "max_train_examples": sizes.train_examples,
        "max_eval_examples": sizes.eval_examples,
        "max_length": sizes.max_length,
        "batch_size": sizes.batch_size,
        "search_steps": sizes.steps,
        "retrain_steps": sizes.steps,
        "eval_every": sizes.eval_every,
    }
    return {key: value for key, value in settings.items() if value is not None}


def s3delta_command() -> list[str]:
    """The `s3delta` CLI: the installed script, else the package's entry point."""
    script = VENV_BIN / "s3delta"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from orchestrator.cli import main; sys.exit(main())"]


def _trial_rows(home: Path, sweep: str) -> list[dict[str, Any]]:
    """Each trial's method, seed, status, wall and scores, from the sweep's MLflow store."""
    from orchestrator.paths import sqlite_uri
    from orchestrator.results.client import Client

    frame = Client(sqlite_uri(home / "mlflow.db"), "bench-gpu").trials(sweep, phase=None)
    keep = ("method", "seed", "status", "wall_time_s", "dev_score", "test_score")
    rows = []
    for record in frame.to_dict("records"):
        row = {k: None if _missing(record.get(k)) else record.get(k) for k in keep}
        row["seed"] = None if row["seed"] is None else int(row["seed"])
        for key in ("start_time", "end_time"):
            stamp = record.get(key)
            row[key] = None if _missing(stamp) else stamp.timestamp()
        rows.append(row)
    return rows


def _missing(value: Any) -> bool:
    """None, NaN or NaT (a metric never logged, a run that never ended)."""
    return value is None or value != value


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a sweep we started: its whole process group, politely, then firmly."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_packing(bench: Bench, concurrent: int, gpus: float) -> dict[str, Any]:
    s = bench.sizes
    name = f"bench-gpu-pack{concurrent}"
    folder = bench.work / f"pack{concurrent}"
    home = folder / "home"
    home.mkdir(parents=True)
    from search_space import resolve_model_path

    training = "\n".join(f"  {k}: {v}" for k, v in training_settings(s).items())
    sweep = folder / f"{name}.yaml"
    sweep.write_text(
        SWEEP.format(
            name=name,
            model=resolve_model_path(bench.args.model),
            data=bench.data_dir,
            seeds=list(range(1, s.sweep_seeds + 1)),
            training=training,
            cpus=s.cpus_per_trial,
            gpus=gpus,
            concurrent=concurrent,
        )
    )
    env = {
        **os.environ,
        "S3DELTA_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    for key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "S3DELTA_OPTUNA_STORAGE"):
        env.pop(key, None)
    limit = max(30.0, bench.remaining())
    log = folder / "run.log"
    started = time.perf_counter()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [*s3delta_command(), "run", str(sweep)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            _stop(process)
            code = None
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    row: dict[str, Any] = {
        "max_concurrent": concurrent,
        "gpus_per_trial": gpus,
        "cpus_per_trial": s.cpus_per_trial,
        "exit_code": code,
        "stopped_at_time_budget": code is None,
        "wall_s": round(wall, 2),
    }
    try:
        trials = _trial_rows(home, name)
    except Exception as error:  # the store may not exist if the sweep failed early
        trials = []
        row["trial_rows_error"] = f"{type(error).__name__}: {error}"
    finished = [t for t in trials if t["status"] == "FINISHED" and t["end_time"] is not None]
    match = re.search(r"(\d+) trials finished", text)
    count = len(finished) if trials else int(match.group(1)) if match else 0
    row.update(finished_trials=count, trials_per_hour=round(count / wall * 3600, 2))
    if finished:
        span = max(t["end_time"] for t in finished) - min(t["start_time"] for t in finished)
        walls = [t["wall_time_s"] for t in finished if t["wall_time_s"] is not None]
        row.update(
            trials_span_s=round(span, 2),
            trials_per_hour_in_span=round(len(finished) / max(span, 1e-9) * 3600, 2),
            mean_trial_wall_s=round(statistics.mean(walls), 2) if walls else None,
        )
    row["trials"] = trials
    if code != 0:
        row["log_tail"] = text[-3000:]
    return row


def part_b(bench: Bench) -> dict[str, Any]:
    """One sweep per packing through the real CLI; trials per hour against one at a time."""
    missing = [m for m in ("ray", "mlflow", "optuna") if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": f"Python packages missing: {', '.join(missing)} (carry them as wheels)"}
    sst2 = bench.data_dir / "glue" / "SST-2"
    if not sst2.is_dir():
        return {"skipped": f"no SST-2 at {sst2}: pass --data-dir"}
    s = bench.sizes
    out: dict[str, Any] = {
        "sweep": {
            "task": "glue/sst2",
            "methods": ["random", "s3delta"],
            "budget": "0.01%",
            "seeds": s.sweep_seeds,
            "training": training_settings(s),
        },
        "packings": [],
    }
    for concurrent, gpus in s.packings:
        if bench.remaining() < 30:
            out["packings"].append({"max_concurrent": concurrent, "skipped": "time budget"})
            continue
        bench.log(f"part b: sweep with {concurrent} trial(s) at once, {gpus} GPU each")
        row = run_packing(bench, concurrent, gpus)
        out["packings"].append(row)
        bench.log(
            f"part b: {row['finished_trials']} trials in {row['wall_s']:.1f} s = "
            f"{row['trials_per_hour']:.0f} trials/hour (exit {row['exit_code']})"
        )
        bench.result["parts"]["b"] = out  # partial result, saved after each packing
        bench.save()
    rates = {
        p["max_concurrent"]: p["trials_per_hour"] for p in out["packings"] if "trials_per_hour" in p
    }
    if rates.get(1):
        out["speedup_vs_one_at_a_time"] = {str(k): round(v / rates[1], 3) for k, v in rates.items()}
    return out


# ---- c. bf16 autocast on and off ----------------------------------------------------------


def part_c(bench: Bench) -> dict[str, Any]:
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    sst2 = bench.data_dir / "glue" / "SST-2"
    if not sst2.is_dir():
        return {"skipped": f"no SST-2 at {sst2}: pass --data-dir"}
    s = bench.sizes
    base = dict(
        model=bench.args.model,
        task="glue/sst2",
        method="s3delta",
        budget="0.01%",
        data_dir=str(bench.data_dir),
        device=bench.device.type,
        num_threads=max(1, math.ceil(s.cpus_per_trial)),
        cache_dir=str(bench.work / "precision-cache"),
        **training_settings(s),
    )
    out: dict[str, Any] = {"trial": base, "runs": []}
    for seed in range(1, s.precision_seeds + 1):
        for precision in ("fp32", "bf16") if seed % 2 else ("bf16", "fp32"):
            if bench.remaining() < 15:
                out["runs"].append({"seed": seed, "precision": precision, "skipped": "time budget"})
                continue
            cfg = TrialConfig(
                **base,
                seed=seed,
                precision=precision,  # type: ignore[arg-type]
                output_dir=str(bench.work / f"precision-{precision}-{seed}"),
            )
            start = time.perf_counter()
            result = run_trial(cfg)
            wall = time.perf_counter() - start
            timings = result.timings
            out["runs"].append(
                {
                    "seed": seed,
                    "precision": precision,
                    "wall_s": round(wall, 2),
                    "search_steps_s": round(timings.get("search_steps", 0.0), 2),
                    "retrain_steps_s": round(timings.get("retrain_steps", 0.0), 2),
                    "evaluation_s": round(timings.get("evaluation", 0.0), 2),
                    "dev_score": result.dev_score,
                    "test_score": result.test_score,
                    "device": result.device,
                }
            )
            bench.log(
                f"part c: seed {seed} {precision}: {wall:.1f} s, dev {result.dev_score:.4f}, "
                f"test {result.test_score:.4f}"
            )
            bench.result["parts"]["c"] = out
            bench.save()
    out.update(compare_precisions(out["runs"]))
    return out


def compare_precisions(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Paired bf16 - fp32 differences per seed, and whether they stay within seed noise."""
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for run in runs:
        if "skipped" not in run:
            by_seed.setdefault(run["seed"], {})[run["precision"]] = run
    pairs = [runs_ for runs_ in by_seed.values() if len(runs_) == 2]
    if not pairs:
        return {"paired_seeds": 0}
    summary: dict[str, Any] = {"paired_seeds": len(pairs)}
    for key in ("wall_s", "search_steps_s", "retrain_steps_s"):
        fp32 = statistics.mean(p["fp32"][key] for p in pairs)
        bf16 = statistics.mean(p["bf16"][key] for p in pairs)
        summary[f"mean_{key}"] = {"fp32": round(fp32, 2), "bf16": round(bf16, 2)}
        summary[f"bf16_over_fp32_{key}"] = round(bf16 / fp32, 4) if fp32 else None
    for score in ("dev_score", "test_score"):
        diffs = [p["bf16"][score] - p["fp32"][score] for p in pairs]
        seed_sd = statistics.stdev(p["fp32"][score] for p in pairs) if len(pairs) > 1 else 0.0
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        mean = statistics.mean(diffs)
        summary[f"{score}_bf16_minus_fp32"] = {
            "per_seed": [round(d, 5) for d in diffs],
            "mean": round(mean, 5),
            "se": round(se, 5),
            "fp32_sd_over_seeds": round(seed_sd, 5),
            "within_noise": abs(mean) <= max(2 * se, seed_sd),
        }
    summary["within_noise_rule"] = (
        "|mean paired difference| <= max(2 x its standard error, SD of fp32 scores over seeds)"
    )
    return summary


# ---- m. peak memory on the GPU -------------------------------------------------------------


def part_m(bench: Bench) -> dict[str, Any]:
    """bench_memory.py on this device (one round), into memory_gpu.json."""
    if bench.remaining() < 60:
        return {"skipped": "time budget"}
    s = bench.sizes
    out = bench.work / "memory_gpu.json" if bench.dry else RESULTS.parent / "memory_gpu.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "bench_memory.py"),
        "--device",
        bench.device.type,
        "--repeats",
        "1",
        "--allocators",
        "glibc-default",
        "--steps",
        str(s.memory_steps),
        "--batch",
        str(s.step_batch // 2),  # bench_memory's batch: 16 on the GPU, like the CPU figures
        "--length",
        str(s.step_length),
        "--threads",
        "4" if not bench.dry else "1",
        "--model",
        bench.args.model,
        "--data-dir",
        str(bench.data_dir),
        "--out",
        str(out),
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=max(30.0, bench.remaining()), cwd=REPO
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench_memory.py failed ({done.returncode}): {done.stderr[-2000:]}")
    memory = json.loads(out.read_text())
    return {"file": str(out), "ratios_to_peft": memory["ratios_to_peft"], "pass": memory["pass"]}


PARTS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "a": part_a,
    "b": part_b,
    "c": part_c,
    "m": part_m,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the code")
    parser.add_argument("--parts", default="a,b,c,m", help="comma-separated, from a, b, c, m")
    parser.add_argument(
        "--budget-s",
        type=float,
        help="start no new work after this many seconds (default 480; dry run 1800)",
    )
    parser.add_argument("--repeats", type=int, help="part a's timed steps (default 30)")
    parser.add_argument("--seeds", type=int, help="part b's seeds per method (default 4)")
    parser.add_argument("--model", default=MODEL, help="hub name or local model folder")
    parser.add_argument("--data-dir", default=str(DATA), help="folder holding glue/SST-2")
    parser.add_argument("--out", help="JSON path (default results/gpu.json; dry run: temp dir)")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; use a, b, c, m")
    if not args.dry_run and not torch.cuda.is_available():
        print(
            "bench_gpu.py needs a CUDA GPU and none is visible; "
            "run it on a GPU machine, or pass --dry-run to check its code on the CPU",
            file=sys.stderr,
        )
        sys.exit(EXIT_NO_GPU)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.budget_s is None:
        args.budget_s = 1800.0 if args.dry_run else 480.0
    sizes = DRY_RUN if args.dry_run else Sizes()
    if args.repeats:
        sizes = dataclasses.replace(sizes, step_repeats=args.repeats)
    if args.seeds:
        sizes = dataclasses.replace(sizes, sweep_seeds=args.seeds)
    bench = Bench(args, sizes)
    bench.log(
        f"{bench.result['device']}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
        f"parts {','.join(parts)}; work folder {bench.work}; results -> {bench.out}"
    )
    bench.save()
    for part in parts:
        if bench.remaining() <= 0:
            bench.result["parts"][part] = {"skipped": "time budget"}
            bench.log(f"part {part}: skipped (time budget of {args.budget_s:.0f} s spent)")
            continue
        bench.log(f"part {part}: start")
        started = time.perf_counter()
        try:
            outcome = PARTS[part](bench)
        except Exception as error:
            outcome = {
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc()[-3000:],
            }
            bench.log(f"part {part}: FAILED: {type(error).__name__}: {error}")
        outcome["part_wall_s"] = round(time.perf_counter() - started, 1)
        bench.result["parts"][part] = outcome
        bench.save()
        bench.log(f"part {part}: done in {outcome['part_wall_s']:.1f} s; saved {bench.out}")
    summary = {
        "step_cost": {
            k: bench.result["parts"].get("a", {}).get(k)
            for k in ("supernet_o1_over_peft", "supernet_w_only_over_peft", "structure_over_peft")
        },
        "trials_per_hour": {
            str(p["max_concurrent"]): p.get("trials_per_hour")
            for p in bench.result["parts"].get("b", {}).get("packings", [])
        },
        "bf16": {
            k: v
            for k, v in bench.result["parts"].get("c", {}).items()
            if k.startswith(("bf16_over", "dev_score", "test_score"))
        },
    }
    bench.result["summary"] = summary
    bench.save()
    print(json.dumps(summary, indent=2, default=str))
    bench.log(f"wrote {bench.out}")
    if not args.keep_work:
        keep = bench.out.parent == bench.work
        for child in bench.work.iterdir():
            if not (keep and child == bench.out):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        if not keep:
            bench.work.rmdir()


if __name__ == "__main__":
    main()
