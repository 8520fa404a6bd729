"""A small synthetic sweep written in the documented MLflow layout.

Why: the reader (`orchestrator.results.client`) and the figures need a real MLflow store to
work against before a real sweep has run, and tests need one whose numbers are known.
The runs are logged with the real MLflow client exactly as docs/design.md
"MLflow layout" describes; only the numbers are made up. It includes a failed trial
(random 0.05% on glue/rte, seed 2) and a missing cell (manual/lnfit on glue/rte
never ran), so the gap handling has something to show.

Scores follow one rule (see `SAMPLE_BASE_SCORES`): test_score = base + offset[seed]
with offsets 0.00, 0.02, 0.07, and dev_score = base + dev offset[seed] with dev
offsets 0.00, 0.05, 0.03, so seed 1 always has the best dev score.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from dashboards.candidate_names import parse_position
from search_space.deltas import Site, delta_size, get_kind
from search_space.families import place_of
from search_space.positions import SPACES
from search_space.structure import StructureEntry

SAMPLE_SWEEP = "demo"
SAMPLE_BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"
SAMPLE_BACKBONE_PARAMS = 22_713_216
SAMPLE_HEAD_PARAMS = 770
SAMPLE_N_TEST = 300
SAMPLE_SEEDS = (0, 1, 2)
SAMPLE_TEST_OFFSETS = (0.00, 0.02, 0.07)
SAMPLE_DEV_OFFSETS = (0.00, 0.05, 0.03)
SAMPLE_BASE_SCORES: dict[tuple[str, str, str], float] = {
    ("glue/sst2", "s3delta", "0.01%"): 0.80,
    ("glue/sst2", "s3delta", "0.05%"): 0.82,
    ("glue/sst2", "random", "0.01%"): 0.77,
    ("glue/sst2", "random", "0.05%"): 0.81,
    ("glue/sst2", "manual/lnfit", "none"): 0.79,
    ("glue/sst2", "finetune", "none"): 0.85,
    ("glue/rte", "s3delta", "0.01%"): 0.55,
    ("glue/rte", "s3delta", "0.05%"): 0.58,
    ("glue/rte", "random", "0.01%"): 0.52,
    ("glue/rte", "random", "0.05%"): 0.56,
    ("glue/rte", "manual/lnfit", "none"): 0.54,
    ("glue/rte", "finetune", "none"): 0.62,
}
SAMPLE_FAILED = ("glue/rte", "random", "0.05%", 2)
SAMPLE_MISSING_CELL = ("glue/rte", "manual/lnfit", "none")
HIDDEN, FFN, LAYERS = 384, 1536, 6
SEARCH_STEPS = 30


@dataclass(frozen=True)
class SampleSweep:
    """What `write_sample_sweep` made: where, and the ids a test may need."""

    tracking_uri: str
    experiment: str
    sweep: str
    parent_run_id: str
    run_ids: dict[tuple[str, str, str, int, str], str]


def minilm_candidates() -> dict[str, int]:
    """Candidate name -> size for the M space of a 6-layer, 384-wide BERT encoder, without
    loading it: its module paths and shapes, placed by the family rules and sized by the
    delta registry (the kinds space M offers at each site, in its order)."""
    shapes = [("embeddings.LayerNorm", HIDDEN, HIDDEN)]
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        shapes += [
            (f"{p}attention.self.{leaf}", HIDDEN, HIDDEN) for leaf in ("query", "key", "value")
        ]
        shapes += [
            (f"{p}attention.output.dense", HIDDEN, HIDDEN),
            (f"{p}intermediate.dense", HIDDEN, FFN),
            (f"{p}output.dense", FFN, HIDDEN),
            (f"{p}attention.output.LayerNorm", HIDDEN, HIDDEN),
            (f"{p}output.LayerNorm", HIDDEN, HIDDEN),
            (f"{p}attention", HIDDEN, HIDDEN),
            (f"{p}output", HIDDEN, HIDDEN),
        ]
    sizes = {}
    for path, fin, fout in shapes:
        place = place_of(path, "bert")
        assert place is not None, path
        norm_kind = "layernorm" if place.site_type == "norm" else ""
        site = Site(
            path, place.site_type, place.role, place.layer, place.stack, fin, fout, norm_kind
        )
        for kind in SPACES["M"][place.site_type]:
            sizes[f"{path}:{kind}"] = delta_size(kind, site)
    return sizes


def _greedy(order: list[str], sizes: dict[str, int], budget: int) -> list[str]:
    """Take names in order while they fit (the spec's greedy pick)."""
    chosen, used = [], 0
    for name in order:
        if used + sizes[name] <= budget:
            chosen.append(name)
            used += sizes[name]
    return chosen


def _structure(chosen: list[str], sizes: dict[str, int], budget: int) -> dict[str, Any]:
    """Structure JSON (version 1) for chosen candidate names."""
    entries = []
    for name in chosen:
        path, kind = name.rsplit(":", 1)
        where = parse_position(name)
        options = tuple(get_kind(kind).options().values().items())  # a space's defaults
        entry = StructureEntry(
            path, kind, sizes[name], options, where.layer, where.role, where.stack
        )
        entries.append(entry.to_dict())  # as `Structure` writes it
    return {
        "format": "s3delta.structure",
        "version": 1,
        "backbone": SAMPLE_BACKBONE,
        "backbone_params": SAMPLE_BACKBONE_PARAMS,
        "budget": budget,
        "space": "M",
        "entries": entries,
    }


def _probabilities(seed: int, budget: int, sizes: dict[str, int]) -> dict[str, float]:
    """Made-up keep-probabilities favouring upper layers, scaled so sum(n p) ~ budget."""
    rng = random.Random(seed)
    raw = {}
    for name in sizes:
        parts = name.split(".")
        depth = int(parts[2]) + 1 if name.startswith("encoder.layer.") else 0
        raw[name] = rng.random() * (depth + 1) / (LAYERS + 1)
    scale = budget / sum(sizes[n] * p for n, p in raw.items())
    return {n: min(1.0, p * scale) for n, p in raw.items()}


def _steps(client: MlflowClient, run_id: str, budget: int, base: float) -> None:
    """Search and retrain step metrics, as a searched trial logs them."""
    metrics, ts = [], 0
    for step in range(SEARCH_STEPS):
        ts += 1000
        wobble = budget * 0.4 * (0.8**step)
        metrics += [
            Metric("search/expected_size", budget + wobble, ts, step),
            Metric("search/budget", float(budget), ts, step),
            Metric("search/loss", 0.7 * 0.95**step, ts, step),
            Metric("retrain/loss", 0.6 * 0.93**step, ts, step),
        ]
        if step % 5 == 4:
            metrics.append(Metric("search/dev_score", base - 0.2 * 0.9**step, ts, step))
            metrics.append(Metric("retrain/dev_score", base - 0.1 * 0.85**step, ts, step))
    client.log_batch(run_id, metrics=metrics)


def _log_trial(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    cell: tuple[str, str, str],
    seed: int,
    phase: str,
    failed: bool,
) -> str:
    """One child run in the documented layout; returns its run id."""
    task, method, budget_text = cell
    tags = {
        "mlflow.parentRunId": parent_id,
        "s3delta.kind": "trial",
        "s3delta.sweep": SAMPLE_SWEEP,
        "s3delta.task": task,
        "s3delta.method": method,
        "s3delta.budget": budget_text,
        "s3delta.seed": str(seed),
        "s3delta.phase": phase,
    }
    name = f"{task}-{method}-{budget_text}-s{seed}-{phase}".replace("/", "_")
    run = client.create_run(experiment_id, tags=tags, run_name=name)
    run_id = run.info.run_id
    if failed:
        client.set_terminated(run_id, status="FAILED")
        return run_id
    base = SAMPLE_BASE_SCORES[cell]
    test = base + SAMPLE_TEST_OFFSETS[seed]
    dev = base + SAMPLE_DEV_OFFSETS[seed]
    sizes = minilm_candidates()
    values: dict[str, float] = {
        "dev_score": dev,
        "test_score": test,
        "dev_accuracy": dev,
        "test_accuracy": test,
        "head_params": SAMPLE_HEAD_PARAMS,
        "backbone_params": SAMPLE_BACKBONE_PARAMS,
        "wall_time_s": 60.0 + seed,
        "n_test": SAMPLE_N_TEST,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if budget_text == "none":
            delta = SAMPLE_BACKBONE_PARAMS if method == "finetune" else 13 * HIDDEN
        else:
            budget = int(float(budget_text.rstrip("%")) / 100 * SAMPLE_BACKBONE_PARAMS)
            values["budget_params"] = budget
            values["budget_fraction"] = budget / SAMPLE_BACKBONE_PARAMS
            if method == "s3delta":
                probs = _probabilities(seed, budget, sizes)
                (out / "probabilities.json").write_text(json.dumps(probs, indent=1))
                order = sorted(probs, key=lambda n: -probs[n])
                _steps(client, run_id, budget, base)
            else:
                order = sorted(sizes)
                random.Random(seed).shuffle(order)
            chosen = _greedy(order, sizes, budget)
            structure = _structure(chosen, sizes, budget)
            (out / "structure.json").write_text(json.dumps(structure, indent=1))
            delta = sum(e["size"] for e in structure["entries"])
        values["delta_params"] = delta
        (out / "delta.safetensors").write_bytes(b"")
        client.log_artifacts(run_id, str(out))
    ts = 10_000_000
    client.log_batch(run_id, metrics=[Metric(k, float(v), ts, 0) for k, v in values.items()])
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def write_sample_sweep(
    tracking_uri: str, artifact_root: Path, experiment: str = "s3delta"
) -> SampleSweep:
    """Log the sample sweep (parent + trials) into a tracking store; returns its ids."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=artifact_root.as_uri())
    )
    parent = client.create_run(
        experiment_id,
        tags={"s3delta.kind": "sweep", "s3delta.sweep": SAMPLE_SWEEP},
        run_name=SAMPLE_SWEEP,
    )
    parent_id = parent.info.run_id
    # The orchestrator's plan.json shape (orchestrator.sweep.plan.Plan.to_dict), trimmed.
    plan = {
        "name": SAMPLE_SWEEP,
        "model": SAMPLE_BACKBONE,
        "cells": [
            {
                "task": t,
                "method": m,
                "budget": None if b == "none" else b,
                "seeds": list(SAMPLE_SEEDS),
            }
            for (t, m, b) in SAMPLE_BASE_SCORES
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "plan.json").write_text(json.dumps(plan, indent=1))
        (Path(tmp) / "sweep.yaml").write_text(f"name: {SAMPLE_SWEEP}\nseeds: [0, 1, 2]\n")
        client.log_artifacts(parent_id, tmp)
    run_ids: dict[tuple[str, str, str, int, str], str] = {}
    for cell in SAMPLE_BASE_SCORES:
        if cell == SAMPLE_MISSING_CELL:
            continue
        for seed in SAMPLE_SEEDS:
            failed = (*cell, seed) == SAMPLE_FAILED
            run_id = _log_trial(client, experiment_id, parent_id, cell, seed, "final", failed)
            run_ids[(*cell, seed, "final")] = run_id
    tune_cell = ("glue/sst2", "s3delta", "0.01%")
    run_ids[(*tune_cell, 0, "tune")] = _log_trial(
        client, experiment_id, parent_id, tune_cell, 0, "tune", False
    )
    client.set_terminated(parent_id, status="FINISHED")
    return SampleSweep(tracking_uri, experiment, SAMPLE_SWEEP, parent_id, run_ids)
