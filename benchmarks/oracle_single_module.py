"""What any search could gain at a budget where exactly one module fits (issue 10).

At 0.002% of all-MiniLM-L6-v2 (454 parameters) only the 384-parameter candidates of
space M fit, and a structure is exactly one of them: a random structure is a uniform
draw among them, and a search can at best pick the one that retrains best. So retraining
every fitting candidate alone, with the same retrain settings and seed as the ablation,
gives the whole distribution at once:

- E[random] = the mean over candidates (random draws one uniformly);
- the ceiling of any search = the candidate with the best *dev* score (selection on dev),
  reported on test; its gain over E[random] is the most a search can show here;
- the spread says whether a 2-point gain over random is possible at this budget at all.

Results append to ``benchmarks/results/oracle_single_module.jsonl`` (resumable);
``--summarise`` writes the ranking and the ceiling to ``oracle_single_module.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_search import COMMON, DATA, RESULTS, TASKS  # the ablation's settings
from jsonl_runs import done_keys, read_rows, run_and_append

NAME = "oracle_single_module"
BUDGET = "0.002%"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def candidates(budget_text: str) -> list[dict[str, Any]]:
    """The candidates of space M that fit the budget on their own, with their sizes."""
    from search_space import backbone_params, find_candidates, load_backbone, parse_budget

    model, _ = load_backbone(MODEL)
    cands = find_candidates(model, "M")
    budget = parse_budget(budget_text).resolve(backbone_params(model), min(c.size for c in cands))
    return [{"name": c.name, "size": c.size, "budget": budget} for c in cands if c.size <= budget]


def run_one(job: tuple[str, str, int]) -> dict[str, Any]:
    task, name, seed = job
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from search_space import backbone_params, find_candidates, load_backbone
    from search_space.apply import structure_from_candidates
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    model, _ = load_backbone(MODEL)
    chosen = [c for c in find_candidates(model, "M") if c.name == name]
    structure = structure_from_candidates(chosen, MODEL, backbone_params(model), None)
    path = Path(tempfile.mkdtemp(prefix="oracle-")) / "structure.json"
    structure.save(path)
    settings = {k: v for k, v in COMMON.items() if k not in ("search_steps",)}
    cfg = TrialConfig(
        data_dir=str(DATA),
        task=task,
        seed=seed,
        method=f"manual/{path}",
        budget=None,
        cache_dir=str(RESULTS.parent / ".cache" / "encoded"),
        **{**settings, **TASKS[task]},
    )
    r = run_trial(cfg)
    return {
        "key": f"{task}|{name}|{seed}",
        "task": task,
        "candidate": name,
        "seed": seed,
        "size": r.delta_params,
        "dev_score": r.dev_score,
        "test_score": r.test_score,
        "split_sizes": r.split_sizes,
        "wall_time_s": r.wall_time_s,
    }


def _rows() -> list[dict[str, Any]]:
    return read_rows(RESULTS / f"{NAME}.jsonl")


def run(parallel: int, task: str, seeds: list[int]) -> None:
    done = done_keys(RESULTS / f"{NAME}.jsonl")
    names = [c["name"] for c in candidates(BUDGET)]
    todo = [(task, n, s) for s in seeds for n in names if f"{task}|{n}|{s}" not in done]
    print(f"{len(names)} candidates fit {BUDGET}; {len(done)} done, {len(todo)} to run", flush=True)
    run_and_append(run_one, todo, RESULTS / f"{NAME}.jsonl", parallel=parallel, describe=_line)


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['candidate']} seed {row['seed']}: dev {row['dev_score']:.4f} "
        f"test {row['test_score']:.4f} ({row['wall_time_s']:.0f}s)"
    )


def summarise() -> dict[str, Any]:
    rows = _rows()
    out: dict[str, Any] = {"budget": BUDGET, "settings": COMMON, "by_task_seed": []}
    for task, seed in sorted({(r["task"], r["seed"]) for r in rows}):
        rs = sorted(
            (r for r in rows if r["task"] == task and r["seed"] == seed),
            key=lambda r: -r["dev_score"],
        )
        test = [100 * r["test_score"] for r in rs]
        dev = [100 * r["dev_score"] for r in rs]
        best = rs[0]
        entry = {
            "task": task,
            "seed": seed,
            "n_candidates": len(rs),
            "test_mean_random_expectation": statistics.mean(test),
            "test_std_over_candidates": statistics.stdev(test) if len(test) > 1 else 0.0,
            "test_min": min(test),
            "test_max": max(test),
            "dev_mean": statistics.mean(dev),
            "best_on_dev": best["candidate"],
            "best_on_dev_test": 100 * best["test_score"],
            "ceiling_gain_over_random_points": 100 * best["test_score"] - statistics.mean(test),
            "top5_on_dev": [
                (r["candidate"], 100 * r["dev_score"], 100 * r["test_score"]) for r in rs[:5]
            ],
            "split_sizes": rs[0]["split_sizes"],
        }
        out["by_task_seed"].append(entry)
        print(json.dumps(entry, indent=1))
    (RESULTS / f"{NAME}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--task", default="glue/sst2", choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--summarise", action="store_true")
    args = parser.parse_args()
    if args.summarise:
        summarise()
    else:
        run(args.parallel, args.task, args.seeds)
