"""Seeds until decided (issue 22): how many seeds a sequential comparison needs, against
the fixed number of seeds that has the same power.

The seed spread is measured, not assumed: the paired test differences s3delta - random
(points) on SST-2 in every committed evidence file that has both arms at the same seed
and budget (`ablation_search.jsonl`, `beyond_evidence.jsonl`, `evidence_minilm.jsonl`),
each (file, budget) group centred on its own mean, pooled (sample variances weighted by
their degrees of freedom). With that spread and a true difference of +1.5 points, many
sweeps of ``seeds: {start: [1, 2, 3], max: 20, until: decided, margin: 1.0}`` are
simulated (normal differences) through `orchestrator.results.sequential.decide_many`:
the mean number of seeds each used and how often each verdict came out. The fixed n
with the same power is the smallest n whose two-sided 5% paired t-test finds the
difference at least as often as the sequential design declares "better" (noncentral t,
exact; a simulated power of 1 is taken as 1 - 1/sweeps, the simulation's resolution).
Other true differences are listed too (0: the false-decision rate; the issue's
test is tests/orchestrator/test_sequential_seeds.py).

    .venv/bin/python benchmarks/sequential_seeds.py     # about 10 s; writes the JSON
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.results.sequential import (  # noqa: E402
    ALPHA,
    SPENDING,
    VERDICTS,
    critical_values,
    decide_many,
)

RESULTS = REPO / "benchmarks" / "results"
SOURCES = ("ablation_search.jsonl", "beyond_evidence.jsonl", "evidence_minilm.jsonl")
TASK, ARM, BASELINE = "glue/sst2", "s3delta", "random"
START, MAX, MARGIN = (1, 2, 3), 20, 1.0
EFFECT = 1.5  # the true difference of the issue, points
EFFECTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def seed_spread() -> dict[str, Any]:
    """The pooled sd of the SST-2 paired differences s3delta - random, and its groups."""
    groups = []
    for name in SOURCES:
        rows = [json.loads(line) for line in (RESULTS / name).read_text().splitlines() if line]
        score = {
            (r["task"], r.get("arm") or r.get("method"), r["budget"], r["seed"]): r["test_score"]
            for r in rows
        }
        budgets = sorted({b for (t, a, b, _) in score if t == TASK and a == ARM})
        for budget in budgets:
            diffs = [
                100 * (value - score[(TASK, BASELINE, budget, seed)])
                for (t, a, b, seed), value in sorted(score.items())
                if (t, a, b) == (TASK, ARM, budget) and (TASK, BASELINE, budget, seed) in score
            ]
            if len(diffs) >= 2:
                groups.append(
                    {
                        "file": name,
                        "budget": budget,
                        "pairs": len(diffs),
                        "mean": round(float(np.mean(diffs)), 3),
                        "sd": round(float(np.std(diffs, ddof=1)), 3),
                        "_ss": float(np.var(diffs, ddof=1)) * (len(diffs) - 1),
                    }
                )
    dof = sum(g["pairs"] - 1 for g in groups)
    pooled = math.sqrt(sum(g.pop("_ss") for g in groups) / dof)
    return {
        "task": TASK,
        "difference": f"{ARM} - {BASELINE}, test score, points",
        "groups": groups,
        "pairs": sum(g["pairs"] for g in groups),
        "degrees_of_freedom": dof,
        "pooled_sd": round(pooled, 4),
    }


def fixed_power(n: int, effect: float, sd: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with n pairs (noncentral t)."""
    df = n - 1
    crit = stats.t.isf(alpha / 2, df)
    nc = effect * math.sqrt(n) / sd
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def fixed_n_for(power: float, effect: float, sd: float) -> int | None:
    """The smallest n (2..1000) whose fixed paired t-test has at least `power`."""
    for n in range(2, 1001):
        if fixed_power(n, effect, sd) >= power:
            return n
    return None


def simulate(effect: float, sd: float, sweeps: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    diffs = effect + sd * rng.standard_normal((sweeps, MAX))
    verdict, used = decide_many(diffs, n_start=len(START), n_max=MAX, margin=MARGIN)
    shares = {name: float(np.mean(verdict == i)) for i, name in enumerate(VERDICTS)}
    decided = verdict != 0
    out: dict[str, Any] = {
        "true_difference": effect,
        "verdicts": {k: round(v, 5) for k, v in shares.items()},
        "mean_seeds": round(float(used.mean()), 3),
        "mean_seeds_when_decided": round(float(used[decided].mean()), 3) if decided.any() else None,
        "median_seeds": float(np.median(used)),
    }
    if effect > 0:
        power = shares["better"]
        # a power of 1 in the simulation only says "above 1 - 1/sweeps"
        n_fixed = fixed_n_for(min(power, 1 - 1 / sweeps), effect, sd)
        out["power"] = round(power, 5)
        out["fixed_n_same_power"] = n_fixed
        out["fixed_n_power"] = round(fixed_power(n_fixed, effect, sd), 5) if n_fixed else None
        out["seed_saving"] = round(1 - used.mean() / n_fixed, 4) if n_fixed else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--out", type=Path, default=RESULTS / "sequential_seeds.json")
    args = parser.parse_args()
    spread = seed_spread()
    sd = spread["pooled_sd"]
    rows = [simulate(e, sd, args.sweeps, args.seed + i) for i, e in enumerate(EFFECTS)]
    headline = next(r for r in rows if r["true_difference"] == EFFECT)
    result = {
        "design": {
            "seeds": {"start": list(START), "max": MAX, "until": "decided", "margin": MARGIN},
            "method": "group-sequential repeated confidence intervals, a look after every pair",
            "spending": SPENDING,
            "alpha_two_sided": ALPHA,
            "t_multipliers": {
                str(n): round(c, 4) for n, c in critical_values(len(START), MAX).items()
            },
        },
        "seed_spread": spread,
        "simulation": {
            "sweeps_per_difference": args.sweeps,
            "seed": args.seed,
            "differences": "normal, mean = true difference, sd = pooled_sd",
        },
        "headline": {
            "true_difference": EFFECT,
            "mean_seeds_sequential": headline["mean_seeds"],
            "power_sequential": headline["power"],
            "fixed_n_same_power": headline["fixed_n_same_power"],
            "seed_saving": headline["seed_saving"],
        },
        "by_true_difference": rows,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["seed_spread"], indent=1))
    for row in rows:
        print(
            f"diff {row['true_difference']:+.1f}: mean seeds {row['mean_seeds']:.2f} "
            + " ".join(f"{k} {v:.4f}" for k, v in row["verdicts"].items())
            + (
                f" | fixed n with power {row['power']:.4f}: {row['fixed_n_same_power']}"
                if "power" in row
                else ""
            )
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
