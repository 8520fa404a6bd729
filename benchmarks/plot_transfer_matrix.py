"""The transfer matrix of issue 14 as one picture: `results/beyond_transfer.png`.

Rows are the target tasks, columns the task whose structure was retrained (the diagonal
is the target's own search). Each cell is the paired test difference against random on
the target, in points (MCC x 100 on CoLA, Pearson x 100 on STS-B), mean over seeds with
its 95% t-interval; a star marks an interval that excludes 0. Colour is the mean,
clipped at +-5 points, so one wide STS-B cell does not wash out the rest.

    python benchmarks/plot_transfer_matrix.py     # reads results/beyond_evidence.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from beyond_evidence import NAME, RESULTS, paired_test_points, read_results
from beyond_evidence import TRANSFER_BUDGET as BUDGET
from beyond_evidence import TRANSFER_TASKS as TASKS

LABELS = {"glue/sst2": "SST-2", "glue/rte": "RTE", "glue/stsb": "STS-B", "glue/cola": "CoLA"}
CLIP = 5.0


def matrix(name: str) -> dict[tuple[str, str], Any]:
    """(target, source) -> paired stats of that structure against random on the target."""
    rows = {(r["task"], r["arm"], r["budget"], r["seed"]): r for r in read_results(name)}
    cells: dict[tuple[str, str], Any] = {}
    for target in TASKS:
        for source in TASKS:
            arm = "s3delta" if source == target else f"transfer/{source}"
            stats = paired_test_points(rows, arm, "random", target, BUDGET)
            if stats is not None:
                cells[(target, source)] = stats
    return cells


def plot(cells: dict[tuple[str, str], Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [LABELS.get(t, t) for t in TASKS]
    grid = [[float("nan")] * len(TASKS) for _ in TASKS]
    fig, ax = plt.subplots(figsize=(8.2, 5.6))
    for i, target in enumerate(TASKS):
        for j, source in enumerate(TASKS):
            s = cells.get((target, source))
            if s is None:
                continue
            grid[i][j] = max(-CLIP, min(CLIP, s.mean))
            star = "*" if s.ci_low > 0 or s.ci_high < 0 else ""
            ax.text(
                j,
                i,
                f"{s.mean:+.1f}{star}\n[{s.ci_low:+.1f}, {s.ci_high:+.1f}]\nn={s.n}",
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold" if star else "normal",
                color="white" if abs(s.mean) > 0.6 * CLIP else "black",
            )
    image = ax.imshow(grid, cmap="RdBu", vmin=-CLIP, vmax=CLIP)
    ax.set_xticks(range(len(TASKS)), [f"{n}'s\nstructure" for n in names])
    ax.set_yticks(range(len(TASKS)), [f"on {n}" for n in names])
    for k in range(len(TASKS)):  # the own-search diagonal
        ax.add_patch(plt.Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, lw=2, ec="black"))
    ax.set_title(
        f"Structure searched on a task, retrained on another, at {BUDGET} (MiniLM):\n"
        "test points vs random on the target, paired by seed, mean [95% CI]; "
        "boxed = own search",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, label=f"mean difference (points, clipped at +-{CLIP:g})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    out = RESULTS / "beyond_transfer.png"
    plot(matrix(NAME), out)
    print(f"wrote {out}")
