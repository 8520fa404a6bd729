"""Issue 20, the second task: does a 0.01% structure learn it at the Decide-it length?

CoLA was chosen because fine-tuning learns it in 1,000 steps here (dev MCC 0.33,
results/cola_longer_training.json). Whether a 0.01% structure learns it too was not
measured: LNFit reached dev MCC 0.16 after 1,500 steps, near the floor, where paired
differences are mostly noise. This runs the cheapest Decide-it method (`random`) at 0.01%
for 1,000 steps, with decide_it.py's settings, on CoLA and on STS-B (the other task here
with test labels and enough training data), on one pilot seed (1001, never a main seed),
and records the dev trajectory only: the choice is made on dev.

The rule, fixed before the run: CoLA stays the second task unless its final dev MCC is
below 0.10 while STS-B's final dev Pearson is at least 0.50; then STS-B replaces it.

    python benchmarks/second_task_check.py      # writes results/second_task_check.json
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

from decide_it import COMMON, DATA, RESULTS, TASKS

SEED = 1001
CHECKS = {
    "glue/cola": TASKS["glue/cola"],
    "glue/stsb": {**TASKS["glue/cola"], "max_train_examples": None},  # the same length
}
RULE = {"cola_dev_below": 0.10, "stsb_dev_at_least": 0.50}


def run_one(task: str) -> dict[str, Any]:
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    along: list[dict[str, float]] = []

    def on_event(event: Any) -> None:
        if event.phase == "retrain" and "dev_score" in event.metrics:
            along.append({"step": event.step, "dev_score": event.metrics["dev_score"]})

    settings = {**COMMON, **CHECKS[task]}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="second-task-") as out:
        cfg = TrialConfig(
            data_dir=str(DATA), task=task, method="random", budget="0.01%", seed=SEED,
            output_dir=out, cache_dir=str(RESULTS.parent / ".cache" / "encoded"), **settings,
        )  # fmt: skip
        result = run_trial(cfg, on_event)
    return {
        "task": task,
        "method": "random",
        "budget": "0.01%",
        "seed": SEED,
        "retrain_steps": result.config["retrain_steps"],
        "dev_score": result.dev_score,  # the test score is not read: the choice is on dev
        "dev_along": along,
        "n_dev": result.split_sizes.get("dev"),
        "cpu_s": result.cost.get("cpu_s"),
        "wall_time_s": time.time() - started,
    }


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = RESULTS / "second_task_check.json"
    done = json.loads(path.read_text()) if path.exists() else {"runs": []}
    for task in CHECKS:
        if any(r["task"] == task for r in done["runs"]):
            continue
        row = run_one(task)
        print(f"{task}: dev {row['dev_score']:.3f} after {row['retrain_steps']} steps", flush=True)
        done["runs"].append(row)
        path.write_text(json.dumps({**done, "rule": RULE}, indent=1) + "\n")
    dev = {r["task"]: r["dev_score"] for r in done["runs"]}
    switch = (
        dev["glue/cola"] < RULE["cola_dev_below"] and dev["glue/stsb"] >= RULE["stsb_dev_at_least"]
    )
    done["decision"] = "glue/stsb" if switch else "glue/cola"
    path.write_text(json.dumps({**done, "rule": RULE}, indent=1) + "\n")
    print(f"second task: {done['decision']} (rule {RULE})")


if __name__ == "__main__":
    main()
