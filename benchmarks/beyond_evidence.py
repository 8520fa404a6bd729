"""Evidence for issue 14 ("beyond the paper"), paired by seed, on MiniLM and the real tasks.

Four experiments, one trial per JSONL line in ``benchmarks/results/<name>.jsonl`` (a
rerun skips finished keys, so the run stops and resumes, also on another machine with the
JSONL committed). Settings are the ablation's (benchmarks/ablation_search.py): chosen on
dev only; test scores are reported, never used to choose.

- ``one_search`` (section 1): on SST-2 and RTE at three budgets, s3delta searched at each
  budget (``s3delta``) against one search at the largest budget re-solved at the others
  (``one-search``, `search_space.rebudget` via ``logits_from``). Quality: paired test
  difference one-search - per-budget with a 95% t-interval; cost: search CPU-seconds
  (``cost.cpu_search_steps_s``) of each way to get every budget's structure.
- ``transfer`` (section 2): at 0.01% on SST-2, RTE, STS-B and CoLA, per target task the
  structure searched there (``s3delta``), the structure searched on each other task
  (``transfer/<source>``, the same seed's structure via ``structure_from``) and
  ``random``; paired differences against random and against searched-here.
- ``adalora`` (section 3): s3delta vs PEFT's AdaLoRA (``peft/adalora``) and random at
  equal budgets on SST-2 and RTE; AdaLoRA's recorded size is in each row.
- ``peft_lora`` (section 3, the export check): a LoRA-only search (space L, ``s3delta-L``)
  on SST-2 at 0.05%, whose structure is retrained by our code (``manual-L``,
  ``manual/<structure>``) and by PEFT's LoRA with its ``rank_pattern``
  (``peft-lora-L``, ``peft-lora/<structure>``), same seed; the paired difference says
  whether the searched ranks train the same in PEFT.

Each row holds the trial's cost (`workers.cost`), so the tables also say what each arm
cost. A row that others depend on (a search) also holds its logits and structure, so a
dependent trial needs only the JSONL.

    python benchmarks/beyond_evidence.py --experiments one_search --parallel 2   # run/resume
    python benchmarks/beyond_evidence.py --smoke                                 # 2-minute check
    python benchmarks/beyond_evidence.py --summarise                             # tables
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation_search import COMMON  # the ablation's settings, chosen on dev
from jsonl_runs import read_rows, run_with_sources

RESULTS = Path(__file__).parent / "results"
NAME = "beyond_evidence"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MAX_LENGTH = {"glue/sst2": 64, "glue/rte": 128, "glue/stsb": 128, "glue/cola": 64}
SEEDS = [1, 2, 3, 4, 5]
SMOKE: dict[str, Any] = dict(
    max_train_examples=64, max_eval_examples=64, search_steps=4, retrain_steps=4, eval_every=2
)
ONE_SEARCH_BUDGETS = ["0.005%", "0.01%", "0.05%"]  # the one search runs at the largest
TRANSFER_BUDGET = "0.01%"
TRANSFER_TASKS = ["glue/sst2", "glue/rte", "glue/stsb", "glue/cola"]
ADALORA_BUDGETS = ["0.01%", "0.05%"]
PEFT_LORA_BUDGET = "0.05%"  # rank-1 LoRA on 384-wide linears: 768+ parameters an entry
EXPERIMENTS = ["one_search", "transfer", "adalora", "peft_lora"]
# arms retraining a source row's structure file: the method family that reads it
STRUCTURE_FILE_ARMS = {"manual-L": "manual", "peft-lora-L": "peft-lora"}


def _cell(task: str, arm: str, budget: str, seed: int, source: str | None = None) -> dict:
    return {"task": task, "arm": arm, "budget": budget, "seed": seed, "source": source}


def grid(experiments: list[str], seeds: list[int], tasks: list[str] | None) -> list[dict]:
    """Every trial, each once (experiments share their s3delta and random trials)."""
    cells: dict[str, dict[str, Any]] = {}

    def add(cell: dict[str, Any]) -> None:
        if tasks is None or cell["task"] in tasks:
            cells.setdefault(key(cell), cell)

    largest = ONE_SEARCH_BUDGETS[-1]
    for seed in seeds:
        if "one_search" in experiments:
            for task in ("glue/sst2", "glue/rte"):
                for budget in ONE_SEARCH_BUDGETS:
                    add(_cell(task, "s3delta", budget, seed))
                    if budget != largest:  # the search at the largest budget, re-solved here
                        source = key(_cell(task, "s3delta", largest, seed))
                        add(_cell(task, "one-search", budget, seed, source))
        if "transfer" in experiments:
            for task in TRANSFER_TASKS:
                add(_cell(task, "s3delta", TRANSFER_BUDGET, seed))
                add(_cell(task, "random", TRANSFER_BUDGET, seed))
                for other in TRANSFER_TASKS:
                    if other != task:
                        source = key(_cell(other, "s3delta", TRANSFER_BUDGET, seed))
                        add(_cell(task, f"transfer/{other}", TRANSFER_BUDGET, seed, source))
        if "adalora" in experiments:
            for task in ("glue/sst2", "glue/rte"):
                for budget in ADALORA_BUDGETS:
                    for arm in ("s3delta", "random", "peft/adalora"):
                        add(_cell(task, arm, budget, seed))
        if "peft_lora" in experiments:
            search = _cell("glue/sst2", "s3delta-L", PEFT_LORA_BUDGET, seed)
            add(search)
            for arm in STRUCTURE_FILE_ARMS:
                add(_cell("glue/sst2", arm, PEFT_LORA_BUDGET, seed, key(search)))
    return list(cells.values())


def key(cell: dict[str, Any]) -> str:
    return f"{cell['task']}|{cell['arm']}|{cell['budget']}|{cell['seed']}"


def run_one(job: tuple[dict[str, Any], dict[str, Any] | None, bool]) -> dict[str, Any]:
    """One trial; ``source`` is the finished row a derived trial takes its logits or
    structure from."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    cell, source, smoke = job
    settings = {**COMMON, **(SMOKE if smoke else {}), "max_length": MAX_LENGTH[cell["task"]]}
    arm = cell["arm"]
    method = "s3delta" if arm in ("one-search", "s3delta-L") else arm
    budget: str | None = cell["budget"]
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, Any] = {"space": "L"} if arm == "s3delta-L" else {}
        if arm in STRUCTURE_FILE_ARMS:  # the structure at its own size, no budget
            assert source is not None
            path = Path(tmp) / "structure.json"
            path.write_text(json.dumps(source["structure_json"]))
            method, budget = f"{STRUCTURE_FILE_ARMS[arm]}/{path}", None
        elif arm == "one-search":
            assert source is not None
            path = Path(tmp) / "logits.json"
            path.write_text(json.dumps(source["logits_record"]))
            extra["logits_from"] = str(path)
        elif arm.startswith("transfer/"):
            assert source is not None
            path = Path(tmp) / "structure.json"
            path.write_text(json.dumps(source["structure_json"]))
            extra["structure_from"] = str(path)
        cfg = TrialConfig(
            data_dir=str(DATA),
            task=cell["task"],
            method=method,
            seed=cell["seed"],
            budget=budget,
            output_dir=str(Path(tmp) / "out"),
            cache_dir=str(RESULTS.parent / ".cache" / "encoded"),
            **settings,
            **extra,
        )
        r = run_trial(cfg)
        out = Path(tmp) / "out"
        logits = out / "logits.json"
        adalora = out / "adalora.json"
        row: dict[str, Any] = {
            "key": key(cell),
            **cell,
            "smoke": smoke,
            "settings": {k: v for k, v in cfg.model_dump().items() if k in settings},
            "dev_score": r.dev_score,
            "test_score": r.test_score,
            "dev": r.dev,
            "test": r.test,
            "delta_params": r.delta_params,
            "budget_params": r.budget_params,
            "split_sizes": r.split_sizes,
            "structure": [
                f"{e['path']}:{e['kind']}" for e in (r.structure or {}).get("entries", [])
            ],
            "structure_json": r.structure,
            "logits_record": json.loads(logits.read_text()) if logits.exists() else None,
            "adalora": json.loads(adalora.read_text()) if adalora.exists() else None,
            "cost": r.cost,
            # token packing (issue 9) cuts a trial's CPU-seconds by ~40%: costs compare
            # only between rows of the same setting
            "pack_tokens": cfg.pack_tokens,
            "timings": r.timings,
            "wall_time_s": r.wall_time_s,
        }
    return row


def read_results(name: str) -> list[dict[str, Any]]:
    return read_rows(RESULTS / f"{name}.jsonl")


def run(name: str, experiments: list[str], seeds: list[int], tasks: list[str] | None,
        parallel: int, smoke: bool) -> None:  # fmt: skip
    """Every cell in grid order; a derived trial starts as soon as its source's row exists."""
    blocked = run_with_sources(
        run_one,
        grid(experiments, seeds, tasks),
        RESULTS / f"{name}.jsonl",
        parallel=parallel,
        key=key,
        job=lambda cell, source: (cell, source, smoke),
        describe=_line,
    )
    if blocked:  # a source failed or lies outside --tasks
        print(f"{len(blocked)} trials wait for sources that did not run", flush=True)


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['key']}: dev {row['dev_score']:.4f} test {row['test_score']:.4f} "
        f"size {row['delta_params']} cpu {row['cost'].get('cpu_s', float('nan')):.0f}s"
    )


def paired_test_points(rows: dict[tuple, dict], arm: str, base: str, task: str, budget: str) -> Any:
    from orchestrator.results.paired import paired_stats

    a, b = [], []
    for (t, name, bud, seed), row in sorted(rows.items()):
        if (t, name, bud) != (task, arm, budget):
            continue
        other = rows.get((t, base, bud, seed))
        if other is not None:
            a.append(100 * row["test_score"])
            b.append(100 * other["test_score"])
    return paired_stats(a, b) if len(a) >= 2 else None


def summarise(name: str) -> str:
    """Tables of the three comparisons (test scores, points; paired by seed), with costs."""
    rows = {(r["task"], r["arm"], r["budget"], r["seed"]): r for r in read_results(name)}
    lines = [
        f"Issue 14 evidence ({name}): paired test differences in points, mean [95% CI, "
        "Student t over seeds]; p of the paired t-test; W/T/L = seeds won / tied / lost.",
        "Test sets: "
        + ", ".join(
            f"{t} {n} examples"
            for t, n in sorted({(k[0], r["split_sizes"]["test"]) for k, r in rows.items()})
        )
        + ". One test example is 100/n points; a gap inside the CI is not shown.",
        "Each p is for its own row, uncorrected for the number of rows: with about ten "
        "comparisons per section, one p near 0.03 alone is weak evidence.",
    ]

    def stat_line(label: str, s: Any) -> str:
        if s is None:
            return f"| {label} | - | too few pairs | - | - |"
        if s.sd == 0:
            return f"| {label} | {s.n} | {s.mean:+.2f} in every pair | - | {s.wins}/{s.ties}/{s.losses} |"
        return (
            f"| {label} | {s.n} | {s.mean:+.2f} [{s.ci_low:+.2f}, {s.ci_high:+.2f}] | "
            f"{s.p_value:.3f} | {s.wins}/{s.ties}/{s.losses} |"
        )

    lines += ["", "## One search, every budget (one-search - per-budget search)", ""]
    lines += ["| task budget | n | diff | p | W/T/L |", "|---|---|---|---|---|"]
    for task in ("glue/sst2", "glue/rte"):
        for budget in ONE_SEARCH_BUDGETS[:-1]:
            lines.append(
                stat_line(
                    f"{task} {budget}",
                    paired_test_points(rows, "one-search", "s3delta", task, budget),
                )
            )
    lines += [
        "",
        "Search CPU-seconds to get every budget's structure, per seed (median search cost "
        "at each budget, rows with token packing only):",
        "",
    ]
    for task in ("glue/sst2", "glue/rte"):
        medians = {}
        for budget in ONE_SEARCH_BUDGETS:
            costs = sorted(
                r["cost"].get("cpu_search_steps_s", 0.0)
                for (t, arm, b, _), r in rows.items()
                if (t, arm, b) == (task, "s3delta", budget) and r.get("pack_tokens")
            )
            if costs:
                medians[budget] = (costs[len(costs) // 2], len(costs))
        if len(medians) == len(ONE_SEARCH_BUDGETS):
            per_budget = sum(m for m, _ in medians.values())
            once, _ = medians[ONE_SEARCH_BUDGETS[-1]]
            detail = ", ".join(f"{b} {m:.0f} s (n={n})" for b, (m, n) in medians.items())
            lines.append(
                f"- {task}: per-budget searches {per_budget:,.0f} s ({detail}); one search "
                f"{once:,.0f} s ({once / per_budget:.0%})"
            )
        else:
            lines.append(f"- {task}: not every budget has a search yet")
    lines += ["", f"## Transfer at {TRANSFER_BUDGET}", ""]
    lines += ["| target: arm vs base | n | diff | p | W/T/L |", "|---|---|---|---|---|"]
    present = {t for (t, _, _, _) in rows}
    for task in [t for t in TRANSFER_TASKS if t in present]:
        others = [o for o in TRANSFER_TASKS if o != task and o in present]
        arms = ["s3delta"] + [f"transfer/{o}" for o in others]
        for arm in arms:
            for base in ("random", "s3delta"):
                if arm != base:
                    s = paired_test_points(rows, arm, base, task, TRANSFER_BUDGET)
                    lines.append(stat_line(f"{task}: {arm} vs {base}", s))
    lines += ["", "## s3delta vs AdaLoRA (and random) at equal budgets", ""]
    lines += ["| task budget: arm vs base | n | diff | p | W/T/L |", "|---|---|---|---|---|"]
    for task in ("glue/sst2", "glue/rte"):
        for budget in ADALORA_BUDGETS:
            pairs = (("s3delta", "peft/adalora"), ("peft/adalora", "random"), ("s3delta", "random"))
            for arm, base in pairs:
                s = paired_test_points(rows, arm, base, task, budget)
                lines.append(stat_line(f"{task} {budget}: {arm} vs {base}", s))
    sizes = [
        f"{t} {b} seed {s}: {r['delta_params']} of {r['budget_params']}"
        for (t, arm, b, s), r in sorted(rows.items())
        if arm == "peft/adalora"
    ]
    if sizes:
        lines += ["", "AdaLoRA's final sizes (parameters of budget): " + "; ".join(sizes)]
    lines += ["", f"## PEFT LoRA with the searched ranks (SST-2, space L, {PEFT_LORA_BUDGET})", ""]
    lines += ["| arm vs base | n | diff | p | W/T/L |", "|---|---|---|---|---|"]
    for arm, base in (("peft-lora-L", "manual-L"), ("manual-L", "s3delta-L")):
        s = paired_test_points(rows, arm, base, "glue/sst2", PEFT_LORA_BUDGET)
        lines.append(stat_line(f"{arm} vs {base}", s))
    retrained = {
        r["delta_params"] for (_, arm, _, _), r in rows.items() if arm in STRUCTURE_FILE_ARMS
    }
    if retrained:
        lines += ["", "Their sizes (parameters): " + ", ".join(map(str, sorted(retrained)))]
    smoke = any(r.get("smoke") for r in rows.values())
    if smoke:
        lines += ["", "SMOKE ROWS: tiny settings (64 examples, 4 steps); not evidence."]
    text = "\n".join(lines) + "\n"
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", nargs="+", default=EXPERIMENTS, choices=EXPERIMENTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--tasks", nargs="+", default=None)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny settings, 1 seed, own file")
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    name = args.name or (f"{NAME}_smoke" if args.smoke else NAME)
    if args.summarise:
        summarise(name)
    else:
        seeds = [1, 2] if args.smoke and args.seeds == SEEDS else args.seeds
        run(name, args.experiments, seeds, args.tasks, args.parallel, args.smoke)
        summarise(name)
