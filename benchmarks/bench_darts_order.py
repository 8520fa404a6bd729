"""First- vs second-order DARTS for the S3Delta search: cost per search step, and scores.

Runs the real trial code (MiniLM, local SST-2, budget 0.01%) with each order and the
same seeds, and records the median search-step time (from the progress callback),
the search-phase dev score, and the retrained test score. Saves
benchmarks/results/darts_order.json. The trial default (`darts_order=1`) is chosen
from these figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run(order: int, seed: int, steps: int, retrain: int, args_eval: int | None) -> dict[str, float]:
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    stamps: list[float] = []

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        if event.phase == "search" and "dev_score" not in event.metrics:
            stamps.append(time.perf_counter())

    cfg = TrialConfig(
        task="glue/sst2",
        method="s3delta",
        budget="0.01%",
        seed=seed,
        data_dir=str(DATA),
        max_train_examples=1500,
        max_eval_examples=args_eval,
        max_length=48,
        batch_size=32,
        search_steps=steps,
        retrain_steps=retrain,
        eval_every=max(1, steps // 4),
        delta_lr=1e-2,
        head_lr=1e-2,
        darts_order=order,
        num_threads=2,
    )
    result = run_trial(cfg, on_event)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "order": order,
        "seed": seed,
        "step_s": statistics.median(gaps) if gaps else float("nan"),
        "search_dev_score": sum(result.search_dev.values()) / max(len(result.search_dev), 1),
        "test_score": result.test_score,
        "delta_params": result.delta_params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--retrain-steps", type=int, default=1)
    parser.add_argument(
        "--max-eval-examples", type=int, default=None, help="cap dev/test (cost runs)"
    )
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "darts_order.json")
    )
    args = parser.parse_args()
    rows = [
        run(order, seed, args.steps, args.retrain_steps, args.max_eval_examples)
        for seed in args.seeds
        for order in (1, 2)
    ]
    by = {o: [r for r in rows if r["order"] == o] for o in (1, 2)}
    summary = {
        "device": "CPU, 2 threads",
        "steps": args.steps,
        "rows": rows,
        "first_order_step_s": statistics.median(r["step_s"] for r in by[1]),
        "second_order_step_s": statistics.median(r["step_s"] for r in by[2]),
    }
    summary["second_over_first"] = summary["second_order_step_s"] / summary["first_order_step_s"]
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
