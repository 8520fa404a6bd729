"""Does all-MiniLM-L6-v2 learn CoLA at all with more training than the evidence grid gives?

The evidence grid (evidence_minilm.py: 1,500 sentences, 80 steps) leaves every method on
CoLA at MCC about 0, fine-tuning included. This script trains longer on the full CoLA
train set (8,551 sentences) with the same dev/test protocol and records the dev MCC and
dev loss at every evaluation, so the README can say whether CoLA is out of reach of this
backbone at CPU scale or only of the grid's step count. Results go to
``benchmarks/results/cola_longer_training.json`` (appended run by run).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "cola_longer_training.json"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_one(method: str, steps: int, lr: float, seed: int) -> dict[str, Any]:
    """One CoLA trial on the full train set; ``lr`` is the backbone lr for finetune, else the delta lr."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workers.trial import run_trial
    from workers.trial_types import ProgressEvent, TrialConfig

    evals: list[dict[str, float]] = []

    def on_event(event: ProgressEvent) -> None:
        if "dev_score" in event.metrics:
            evals.append({"step": event.step, **event.metrics})
            print(f"  step {event.step}: {event.metrics}", flush=True)

    lrs = {"finetune_lr": lr} if method == "finetune" else {"delta_lr": lr}
    cfg = TrialConfig(
        task="glue/cola", method=method, budget=None, seed=seed, data_dir=str(DATA),
        max_train_examples=None, max_eval_examples=300, max_length=40, batch_size=16,
        eval_batch_size=128, retrain_steps=steps, eval_every=max(1, steps // 6), head_lr=1e-2,
        num_threads=1, **lrs,
    )  # fmt: skip
    r = run_trial(cfg, on_event)
    return {
        "method": method, "steps": steps, "lr": lr, "seed": seed, "dev_score": r.dev_score,
        "test_score": r.test_score, "train_examples": r.split_sizes["train"],
        "wall_time_s": r.wall_time_s, "evals": evals,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="finetune")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    row = run_one(args.method, args.steps, args.lr, args.seed)
    rows = json.loads(OUT.read_text())["runs"] if OUT.exists() else []
    rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"device": "CPU, 1 thread", "runs": rows}, indent=2) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "evals"}))


if __name__ == "__main__":
    main()
