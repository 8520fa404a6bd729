"""Each figure builds from real data with the traces and numbers it should show."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboards.budget_split import budget_split_figure, split_by
from dashboards.gaps import find_gaps, planned_trials
from dashboards.heatmap import probability_heatmap_figure
from dashboards.pareto import pareto_figure, pareto_front
from dashboards.sample_sweep import SampleSweep
from dashboards.score_vs_budget import MEAN_PANEL, score_vs_budget_figure, summarise
from dashboards.trajectory import trajectory_figure
from orchestrator.results.client import Client

STD_OF_OFFSETS = 0.0360555


def test_score_vs_budget_summary_and_mean_panel(client: Client) -> None:
    table = summarise(client.trials("demo")).set_index(["panel", "method", "budget"])
    cell = table.loc[("glue/sst2", "s3delta", "0.01%")]
    assert (cell["x"], cell["mean"], cell["n"]) == (2271, pytest.approx(0.83), 3)
    assert table.loc[("glue/sst2", "manual/lnfit", "none")]["x"] == 4992
    # Per-seed task means: (0.80+0.55)/2 = 0.675, 0.695, 0.745 -> 0.705.
    mean = table.loc[(MEAN_PANEL, "s3delta", "0.01%")]
    assert mean["mean"] == pytest.approx(0.705)
    assert mean["std"] == pytest.approx(STD_OF_OFFSETS, abs=1e-6)
    # Seed 2 failed on rte: only seeds 0 and 1 are complete: 0.685, 0.705.
    partial = table.loc[(MEAN_PANEL, "random", "0.05%")]
    assert (partial["mean"], partial["n"]) == (pytest.approx(0.695), 2)
    # manual/lnfit never ran on rte, so it has no mean-over-tasks point.
    assert (MEAN_PANEL, "manual/lnfit", "none") not in table.index


def test_score_vs_budget_figure_traces(client: Client) -> None:
    fig = score_vs_budget_figure(client.trials("demo"))
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["glue/rte", "glue/sst2", MEAN_PANEL]
    by_panel: dict[str, list[str]] = {}
    for trace in fig.data:
        by_panel.setdefault(trace.xaxis, []).append(trace.name)
    assert sorted(by_panel["x"]) == ["fine-tune", "random", "s3delta"]
    assert sorted(by_panel["x2"]) == ["fine-tune", "manual/lnfit", "random", "s3delta"]
    s3 = next(t for t in fig.data if t.name == "s3delta" and t.xaxis == "x2")
    assert list(s3.x) == [2271, 11356]
    assert list(s3.y) == pytest.approx([83.0, 85.0])  # in %, as the tables
    assert list(s3.error_y.array) == pytest.approx([100 * STD_OF_OFFSETS] * 2, abs=1e-4)
    finetune = next(t for t in fig.data if t.name == "fine-tune" and t.xaxis == "x2")
    assert list(finetune.y) == pytest.approx([88.0, 88.0])
    assert fig.layout.xaxis.type == "log"


def test_pareto_front_rule() -> None:
    points = pd.DataFrame({"delta_params": [10, 20, 30, 40], "test_score": [0.5, 0.4, 0.6, 0.6]})
    front = pareto_front(points)
    assert front.values.tolist() == [[10, 0.5], [30, 0.6]]


def test_pareto_figure(client: Client) -> None:
    fig = pareto_figure(client.trials("demo", phase=None))
    names = [(t.name, t.xaxis) for t in fig.data]
    assert ("Pareto front", "x") in names and ("Pareto front", "x2") in names
    sst2_points = sum(len(t.x) for t in fig.data if t.xaxis == "x2" and t.name != "Pareto front")
    assert sst2_points == 6 * 3 + 1  # six cells x three seeds, plus the tune trial
    front = next(t for t in fig.data if t.name == "Pareto front" and t.xaxis == "x2")
    assert max(front.y) == pytest.approx(92.0)  # fine-tune seed 2: 0.85 + 0.07, in %


def test_heatmap_from_a_run(client: Client, sample: SampleSweep) -> None:
    run_id = sample.run_ids[("glue/sst2", "s3delta", "0.01%", 1, "final")]
    structure = client.structure_dict(run_id)
    fig = probability_heatmap_figure(client.probabilities(run_id), structure)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    p, chosen = fig.data
    assert list(p.x) == ["emb", "0", "1", "2", "3", "4", "5"]
    assert "lora · q" in p.y and "lra · ffn_block" in p.y and "lnfit · emb_norm" in p.y
    assert sum(v == 1.0 for row in chosen.z for v in row) == len(structure["entries"])
    first = structure["entries"][0]
    row = list(chosen.y).index(f"{first['kind']} · {first['role']}")
    assert chosen.z[row][list(chosen.x).index(str(first["layer"]))] == 1.0


def test_heatmap_splits_t5_stacks_and_notes_unplaced() -> None:
    probabilities = {
        "encoder.block.0.layer.0.SelfAttention.q:lora": 0.9,
        "encoder.block.1.layer.1.DenseReluDense.wo:bitfit": 0.2,
        "encoder.final_layer_norm:lnfit": 0.5,
        "decoder.block.0.layer.1.layer_norm:lnfit": 0.7,
        "decoder.block.1.layer.0:lra": 0.1,
        "lm_head:lora": 0.3,
    }
    structure = {
        "entries": [
            {"path": "encoder.block.0.layer.0.SelfAttention.q", "kind": "lora", "size": 1024}
        ]
    }
    fig = probability_heatmap_figure(probabilities, structure)
    assert [t.name for t in fig.data] == [
        "encoder p",
        "encoder chosen",
        "decoder p",
        "decoder chosen",
    ]
    enc_p, enc_chosen, dec_p, _ = fig.data
    assert list(enc_p.x) == ["0", "1", "final"]
    assert enc_p.z[list(enc_p.y).index("lora · q")][0] == 0.9
    assert math.isnan(enc_p.z[list(enc_p.y).index("lora · q")][1])  # not a candidate there
    assert enc_chosen.z[list(enc_chosen.y).index("lora · q")][0] == 1.0
    assert enc_chosen.z[list(enc_chosen.y).index("bitfit · ffn_out")][1] == 0.0
    assert list(dec_p.y) == ["lnfit · cross_norm", "lra · attn_block"]
    assert "lm_head:lora" in fig.layout.title.text


def test_budget_split_means() -> None:
    def entry(path: str, kind: str, size: int) -> dict[str, object]:
        return {"path": path, "kind": kind, "size": size}

    q5 = entry("encoder.layer.5.attention.self.query", "lora", 768)
    structures = [
        ("0.01%", {"entries": [q5, entry("encoder.layer.5.output.LayerNorm", "lnfit", 384)]}),
        ("0.01%", {"entries": [entry("encoder.layer.4.attention.self.query", "lora", 768)]}),
        ("0.05%", {"entries": [q5, entry("embeddings.LayerNorm", "bitfit", 384)]}),
    ]
    budgets, by_kind, by_layer = split_by(structures)
    assert budgets == ["0.01%", "0.05%"]
    assert by_kind["lora"] == {"0.01%": 768.0, "0.05%": 768.0}
    assert by_kind["lnfit"] == {"0.01%": 192.0}
    assert by_layer["enc 5"] == {"0.01%": 576.0, "0.05%": 768.0}
    assert by_layer["outside layers"] == {"0.05%": 384.0}
    fig = budget_split_figure(structures)
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data if t.xaxis == "x"] == ["lora", "bitfit", "lnfit"]
    assert [t.name for t in fig.data if t.xaxis == "x2"] == ["enc 4", "enc 5", "outside layers"]


def test_trajectory_figure(client: Client, sample: SampleSweep) -> None:
    run_id = sample.run_ids[("glue/sst2", "s3delta", "0.05%", 0, "final")]
    keys = ["search/expected_size", "search/budget", "search/dev_score", "retrain/dev_score"]
    fig = trajectory_figure({k: client.metric_history(run_id, k) for k in keys})
    assert [(t.name, t.yaxis) for t in fig.data] == [
        ("search/expected_size", "y"),
        ("search/budget", "y"),
        ("search/dev_score", "y2"),
        ("retrain/dev_score", "y2"),
    ]
    assert set(fig.data[1].y) == {11356.0}
    partial = trajectory_figure({"search/budget": client.metric_history(run_id, "search/budget")})
    assert (
        len(partial.data) == 1 and "not logged: search/expected_size" in partial.layout.title.text
    )


def test_gaps_from_plan_and_inferred(client: Client) -> None:
    finals = client.trials("demo")
    # plan.json as orchestrator.sweep.plan.Plan.to_dict writes it (budget None -> tag "none")
    plan = {
        "cells": [
            {"task": t, "method": m, "budget": b, "seeds": [0, 1, 2], "n_final_runs": 3}
            for t in ("glue/sst2", "glue/rte")
            for m, b in (("manual/lnfit", None), ("random", "0.05%"))
        ]
    }
    gaps = find_gaps(finals, plan)
    assert gaps.source == "plan.json"
    assert gaps.failed == [("glue/rte", "random", "0.05%", 2)]
    assert gaps.missing == [("glue/rte", "manual/lnfit", "none", s) for s in (0, 1, 2)]
    assert gaps.lines() == [
        "failed: glue/rte random budget 0.05%, seeds [2]",
        "missing: glue/rte manual/lnfit budget none, seeds [0, 1, 2]",
    ]
    flat = [
        {"task": t, "method": m, "budget": b, "seed": s}
        for t in ("glue/sst2", "glue/rte")
        for m, b in (("manual/lnfit", None), ("random", "0.05%"))
        for s in (0, 1, 2)
    ]
    assert find_gaps(finals, flat).missing == gaps.missing
    inferred = find_gaps(finals, plan={"unexpected": "shape"})
    assert inferred.source == "inferred" and inferred.missing == gaps.missing
    assert (
        planned_trials([{"task": "a", "method": "m", "budget": "1", "seed": 0, "phase": "tune"}])
        is None
    )
