"""The results of a subspace sweep, read back from MLflow: one table per task.

Per DET: its exact size, its own-space (original) test score, its subspace test score
and that score as % of the original; and the K x K transfer matrix (v found through the
row's decoder, decoded by the column's, as % of the column DET's own score). Each cell
is the mean over the seeds with its standard deviation.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.results.query import (
    KIND_TAG,
    PARENT_TAG,
    SUBSPACE_EXPERIMENT,
    SUBSPACE_SWEEP,
    SWEEP_TAG,
    newest,
    search_all,
    tags_filter,
)
from orchestrator.results.text import aligned

if TYPE_CHECKING:
    from orchestrator.results.client import Client

# the s3delta.kind tags of a subspace sweep's parent run and experiment runs (written by
# orchestrator/runner/subspace_tracking.py)
KIND_SWEEP = SUBSPACE_SWEEP
KIND_EXPERIMENT = SUBSPACE_EXPERIMENT


@dataclass
class Stat:
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        values = [v for v in values if not math.isnan(v)]
        if not values:
            return cls(float("nan"), float("nan"), 0)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), std, len(values))


@dataclass
class SubspaceTable:
    """One task of a subspace sweep."""

    task: str
    dets: list[str]
    seeds: list[int]
    sizes: dict[str, int]
    original: dict[str, Stat]
    subspace: dict[str, Stat]
    subspace_pct: dict[str, Stat]
    transfer_pct: list[list[Stat]]  # [source][target]; the diagonal is subspace_pct
    d: int = 0
    means: dict[str, Stat] = field(default_factory=dict)  # subspace / transfer pct over DETs

    def to_dict(self) -> dict[str, Any]:
        def plain(s: Stat) -> dict[str, Any]:
            return {"mean": s.mean, "std": s.std, "n": s.n}

        return {
            "task": self.task,
            "d": self.d,
            "dets": self.dets,
            "seeds": self.seeds,
            "sizes": self.sizes,
            "original": {k: plain(v) for k, v in self.original.items()},
            "subspace": {k: plain(v) for k, v in self.subspace.items()},
            "subspace_pct": {k: plain(v) for k, v in self.subspace_pct.items()},
            "transfer_pct": [[plain(s) for s in row] for row in self.transfer_pct],
            "means": {k: plain(v) for k, v in self.means.items()},
        }


def find_subspace_sweep(client: Any, experiment_id: str, sweep: str) -> str | None:
    """The parent run of subspace sweep ``sweep``, or None (not a subspace sweep)."""
    run = newest(client, [experiment_id], tags_filter({KIND_TAG: KIND_SWEEP, SWEEP_TAG: sweep}))
    return None if run is None else str(run.info.run_id)


def read_tables(client: Client, sweep: str) -> list[SubspaceTable] | None:
    """Per-task tables of subspace sweep ``sweep`` in the client's experiment, or None when
    it has no subspace sweep of that name."""
    parent = find_subspace_sweep(client.mlflow, client.experiment_id, sweep)
    return None if parent is None else subspace_tables(client.mlflow, client.experiment_id, parent)


def subspace_tables(client: Any, experiment_id: str, parent_id: str) -> list[SubspaceTable]:
    """Tables per task from the finished experiment runs under ``parent_id``."""
    experiments = [
        r
        for r in search_all(
            client, [experiment_id], tags_filter({PARENT_TAG: parent_id, KIND_TAG: KIND_EXPERIMENT})
        )
        if r.info.status == "FINISHED"
    ]
    by_task: dict[str, list[Any]] = {}
    for run in experiments:
        by_task.setdefault(run.data.tags["s3delta.task"], []).append(run)
    tables = []
    for task, runs in sorted(by_task.items()):
        dets = runs[0].data.tags.get("s3delta.dets", "").split(",")
        stages: dict[tuple[str, str], dict[str, float]] = {}
        for run in runs:
            children = tags_filter({PARENT_TAG: run.info.run_id})
            for child in search_all(client, [experiment_id], children):
                stages[(run.info.run_id, child.info.run_name)] = dict(child.data.metrics)
        ids = [r.info.run_id for r in runs]

        def values(
            stage: str,
            metric: str,
            ids: list[str] = ids,
            stages: dict[tuple[str, str], dict[str, float]] = stages,
        ) -> list[float]:
            return [stages.get((i, stage), {}).get(metric, float("nan")) for i in ids]

        sizes = {
            det: int(values(f"stage0/{det}", "delta_size")[0])
            if not math.isnan(values(f"stage0/{det}", "delta_size")[0])
            else 0
            for det in dets
        }
        transfer = [
            [
                Stat.of(values(f"stage2/{src}", "subspace_pct"))
                if src == dst
                else Stat.of(values(f"stage2/{src}", f"transfer_to_{dst}_pct"))
                for dst in dets
            ]
            for src in dets
        ]
        sub_mean = [r.data.metrics.get("subspace_pct_mean", float("nan")) for r in runs]
        tr_mean = [r.data.metrics.get("transfer_pct_mean", float("nan")) for r in runs]
        tables.append(
            SubspaceTable(
                task=task,
                dets=dets,
                seeds=sorted(int(r.data.tags.get("s3delta.seed", -1)) for r in runs),
                sizes=sizes,
                original={d: Stat.of(values(f"stage0/{d}", "original_test")) for d in dets},
                subspace={d: Stat.of(values(f"stage2/{d}", "subspace_test")) for d in dets},
                subspace_pct={d: Stat.of(values(f"stage2/{d}", "subspace_pct")) for d in dets},
                transfer_pct=transfer,
                d=int(runs[0].data.metrics.get("d", 0)),
                means={"subspace_pct": Stat.of(sub_mean), "transfer_pct": Stat.of(tr_mean)},
            )
        )
    return tables


def format_tables(sweep: str, tables: list[SubspaceTable]) -> str:
    """Plain-text tables for people (scores x100 where they are fractions)."""

    def pm(s: Stat, scale: float = 1.0, unit: str = "") -> str:
        if s.n == 0:
            return "-"
        return f"{scale * s.mean:.1f}{unit} ± {scale * s.std:.1f}"

    lines = [f"subspace sweep {sweep}"]
    for t in tables:
        seeds = ", ".join(str(s) for s in t.seeds)
        lines += ["", f"{t.task} (d = {t.d}, seeds {seeds}; test scores, selected on dev)"]
        header = ["DET", "size", "original", "subspace", "% of original"]
        rows = [
            [
                det,
                f"{t.sizes[det]:,}",
                pm(t.original[det], 100),
                pm(t.subspace[det], 100),
                pm(t.subspace_pct[det], 1, "%"),
            ]
            for det in t.dets
        ]
        lines += ["  " + line for line in aligned(header, rows, left=1)]
        lines.append(
            "  transfer (% of the target DET's own score): rows found through, columns decoded by"
        )
        matrix = [
            [det, *(pm(s, 1, "%") for s in row)]
            for det, row in zip(t.dets, t.transfer_pct, strict=True)
        ]
        lines += ["  " + line for line in aligned(["", *t.dets], matrix, left=1)]
        lines.append(
            f"  mean subspace {pm(t.means['subspace_pct'], 1, '%')}, mean transfer "
            f"{pm(t.means['transfer_pct'], 1, '%')} (paper, T5-base: 84.9%, 82.6%)"
        )
    return "\n".join(lines)
