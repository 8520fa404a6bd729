"""Evidence for issue 3: s3delta vs random, manual baselines and fine-tuning on real data.

all-MiniLM-L6-v2 on the local SST-2 and CoLA files (training sets capped so it runs on
2 CPU cores), budgets 0.01%, 0.03% and 0.1%, seeds 1-3. Results are appended to
``benchmarks/results/evidence_minilm.jsonl`` as each trial finishes (a rerun skips what
is there), and ``--summarise`` writes the mean/std table (markdown and JSON) with
paired s3delta-vs-random differences per seed. The ``s3delta-2nd`` cells (SST-2) run the
search with second-order DARTS on the same seeds: the first- vs second-order comparison
of score and search-step time that the trial default (``darts_order=1``) rests on.
``--set KEY=VALUE`` overrides a
setting (e.g. longer training on a GPU) and ``--name`` keeps those results apart.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
from pathlib import Path
from typing import Any

from jsonl_runs import done_keys, run_and_append

RESULTS = Path(__file__).parent / "results"
NAME = "evidence_minilm"  # results go to RESULTS / NAME.{jsonl,json,md}; --name changes it
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TASKS = ["glue/sst2", "glue/cola"]
BUDGETS = ["0.01%", "0.03%", "0.1%"]
MANUAL = [
    "manual/lnfit",
    "manual/bitfit",
    "manual/lora-qv-r1",
    "manual/lora-qv-r8",
    "manual/adapter",
    "manual/lra-all",
]
SEEDS = [1, 2, 3]
COMMON: dict[str, Any] = dict(
    max_train_examples=1500,
    max_eval_examples=300,
    max_length=40,
    batch_size=16,
    eval_batch_size=128,
    search_steps=80,
    retrain_steps=80,
    eval_every=40,
    delta_lr=1e-2,
    head_lr=1e-2,
    structure_lr=0.1,
    finetune_lr=2e-4,
    num_threads=1,
)


def grid() -> list[dict[str, Any]]:
    """Task-major (SST-2 completes first); within a task, the searched-vs-random pairs of
    every seed come before the budget-free baselines, the comparison that matters most."""
    cells = []
    for task in TASKS:
        for seed in SEEDS:
            for budget in BUDGETS:
                for method in ("s3delta", "random"):
                    cells.append(dict(task=task, method=method, budget=budget, seed=seed))
        for seed in SEEDS:
            for method in [*MANUAL, "finetune"]:
                cells.append(dict(task=task, method=method, budget=None, seed=seed))
    # first- vs second-order DARTS, same settings and seeds (SST-2, where methods differ)
    for seed in SEEDS:
        for budget in BUDGETS:
            cells.append(dict(task="glue/sst2", method=SECOND_ORDER, budget=budget, seed=seed))
    return cells


SECOND_ORDER = "s3delta-2nd"  # the s3delta method with darts_order=2


def key(cell: dict[str, Any]) -> str:
    return f"{cell['task']}|{cell['method']}|{cell['budget']}|{cell['seed']}"


def run_one(job: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    cell, settings = job
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import time

    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    stamps: list[float] = []

    def on_event(event: Any) -> None:
        if event.phase == "search" and "dev_score" not in event.metrics:
            stamps.append(time.perf_counter())

    order = 2 if cell["method"] == SECOND_ORDER else 1
    cfg = TrialConfig(
        data_dir=str(DATA),
        **settings,
        **{**cell, "method": "s3delta" if order == 2 else cell["method"]},
        darts_order=order,
    )
    r = run_trial(cfg, on_event)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "key": key(cell),
        **cell,
        "dev_score": r.dev_score,
        "test_score": r.test_score,
        "test": r.test,
        "delta_params": r.delta_params,
        "head_params": r.head_params,
        "budget_params": r.budget_params,
        "wall_time_s": r.wall_time_s,
        "split_sizes": r.split_sizes,
        "structure": [f"{e['path']}:{e['kind']}" for e in (r.structure or {}).get("entries", [])],
        "search_dev": r.search_dev,
        "darts_order": order,
        "search_step_s": statistics.median(gaps) if gaps else None,
    }


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """COMMON with ``key=value`` overrides (values as JSON, else text); unknown keys are refused."""
    from workers.trial_types import TrialConfig

    # a cell sets these (darts_order through the s3delta-2nd method)
    known = set(TrialConfig.model_fields) - {"task", "method", "budget", "seed", "darts_order"}
    settings = dict(COMMON)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in known:
            raise SystemExit(
                f"--set {pair!r}: expected KEY=VALUE with KEY a TrialConfig field "
                f"other than task/method/budget/seed/darts_order, e.g. --set retrain_steps=2000"
            )
        try:
            settings[name] = json.loads(text)
        except json.JSONDecodeError:
            settings[name] = text
    return settings


def run(
    parallel: int,
    tasks: list[str],
    methods: list[str] | None,
    seeds: list[int],
    name: str,
    settings: dict[str, Any],
) -> None:
    """Run the grid cells not yet in RESULTS/<name>.jsonl, appending each row as it finishes."""
    jsonl = RESULTS / f"{name}.jsonl"
    done = done_keys(jsonl)
    todo = [
        c
        for c in grid()
        if key(c) not in done
        and c["task"] in tasks
        and c["seed"] in seeds
        and (methods is None or c["method"].split("/")[0] in methods)
    ]
    print(f"{len(done)} done, {len(todo)} to run", flush=True)
    run_and_append(run_one, [(c, settings) for c in todo], jsonl, parallel=parallel, describe=_line)


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['key']}: test {row['test_score']:.4f} size {row['delta_params']} "
        f"({row['wall_time_s']:.0f}s)"
    )


def _paired(
    table: dict[tuple[str, str, str], list[dict[str, Any]]],
    task: str,
    budget: str,
    a: str,
    b: str,
    vs: str | None,
) -> dict[str, Any] | None:
    """Per-seed test-score differences a - b in one task and budget (None if no common seed)."""
    sa = {r["seed"]: r["test_score"] for r in table.get((task, a, budget), [])}
    sb = {r["seed"]: r["test_score"] for r in table.get((task, b, budget), [])}
    diffs = [sa[k] - sb[k] for k in sorted(set(sa) & set(sb))]
    if not diffs:
        return None
    row = {"task": task, "budget": budget, "seeds": len(diffs)}
    return {
        **row,
        **({"vs": vs} if vs else {}),
        "mean_gain": statistics.mean(diffs),
        "gains": diffs,
    }


def summarise(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Mean/std table, paired differences and kinds chosen, from RESULTS/<name>.jsonl."""
    jsonl = RESULTS / f"{name}.jsonl"
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    table: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        table.setdefault((r["task"], r["method"], r["budget"] or "-"), []).append(r)
    out: list[dict[str, Any]] = []
    for (task, method, budget), rs in sorted(table.items()):
        scores = [r["test_score"] for r in rs]
        out.append(
            {
                "task": task,
                "method": method,
                "budget": budget,
                "n_seeds": len(rs),
                "test_mean": statistics.mean(scores),
                "test_std": statistics.stdev(scores) if len(rs) > 1 else 0.0,
                "delta_params_mean": statistics.mean(r["delta_params"] for r in rs),
                "head_params": rs[0]["head_params"],
            }
        )
    paired = [
        p
        for a, b, vs in (("s3delta", "random", None), (SECOND_ORDER, "s3delta", "second-first"))
        for task in TASKS
        for budget in BUDGETS
        if (p := _paired(table, task, budget, a, b, vs))
    ]
    step_s = {
        m: statistics.median(
            r["search_step_s"] for r in rows if r["method"] == m and r.get("search_step_s")
        )
        for m in ("s3delta", SECOND_ORDER)
        if any(r["method"] == m and r.get("search_step_s") for r in rows)
    }
    kinds: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["method"].startswith("s3delta"):
            counts = kinds.setdefault(f"{r['task']} {r['method']} {r['budget']}", {})
            for entry in r["structure"]:
                kind = entry.rsplit(":", 1)[1]
                counts[kind] = counts.get(kind, 0) + 1
    summary = {
        "settings": settings,
        "cells": out,
        "paired_s3delta_minus_random": paired,
        "s3delta_kinds_chosen": kinds,
        "median_search_step_s": step_s,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "| task | method | budget | seeds | test mean ± std | delta params | head |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in out:
        lines.append(
            f"| {c['task']} | {c['method']} | {c['budget']} | {c['n_seeds']} | "
            f"{100 * c['test_mean']:.1f} ± {100 * c['test_std']:.1f} | {c['delta_params_mean']:,.0f} | {c['head_params']} |"
        )
    lines += [
        "",
        "| task | budget | seeds | paired difference | mean (per seed), points |",
        "|---|---|---|---|---|",
    ]
    for p in paired:
        what = "second − first order" if p.get("vs") else "s3delta − random"
        lines.append(
            f"| {p['task']} | {p['budget']} | {p['seeds']} | {what} | {100 * p['mean_gain']:+.1f} "
            f"({', '.join(f'{100 * g:+.1f}' for g in p['gains'])}) |"
        )
    if step_s:
        lines += [
            "",
            "median search step (s, 1 thread): "
            + ", ".join(f"{m} {v:.2f}" for m, v in step_s.items()),
        ]
    lines += ["", "| s3delta structures (all seeds) | modules chosen by kind |", "|---|---|"]
    for cell, counts in sorted(kinds.items()):
        lines.append(f"| {cell} | {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="only these methods (s3delta random manual finetune)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a COMMON setting, e.g. --set retrain_steps=2000 --set max_train_examples=null",
    )
    parser.add_argument("--name", default=NAME, help="results file stem; use a new one with --set")
    args = parser.parse_args()
    cfg = parse_settings(args.set)
    if args.set and args.name == NAME:
        raise SystemExit(f"--set changes the settings: also pass --name other than {NAME!r}")
    if args.summarise:
        summarise(args.name, cfg)
    else:
        run(args.parallel, args.tasks, args.methods, args.seeds, args.name, cfg)
