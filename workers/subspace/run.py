"""One subspace experiment, start to end: stage 0, stage 1, stage 2 with transfer, and
the landscape. A plain function (config in, result out) with no Ray or MLflow."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workers.subspace.artifacts import write_artifacts
from workers.subspace.context import Callback, SubspaceContext
from workers.subspace.det_model import build_det_models
from workers.subspace.landscape import landscape
from workers.subspace.setup import check_config
from workers.subspace.stage0 import train_det
from workers.subspace.stage1 import train_codecs
from workers.subspace.stage2 import transfer_scores, tune_v
from workers.subspace.stage_checkpoints import stage0_with_checkpoint, stage1_with_checkpoint
from workers.subspace.types import DetOutcome, SubspaceConfig, SubspaceResult


def run_subspace(cfg: SubspaceConfig, callback: Callback = None) -> SubspaceResult:
    """Run the experiment; every config problem is raised before any data or weights load."""
    started = time.perf_counter()
    spec, choices = check_config(cfg)
    ctx = SubspaceContext(cfg, spec, callback)
    dets = build_det_models(ctx, ctx.load(), choices)
    originals = [
        stage0_with_checkpoint(ctx, det, lambda det=det: train_det(ctx, det))  # type: ignore[misc]
        for det in dets
    ]
    thetas = [o.theta for o in originals]
    stage1 = stage1_with_checkpoint(ctx, dets, thetas, lambda: train_codecs(ctx, dets, thetas))
    codecs, points = stage1.codecs, stage1.points
    found = [
        tune_v(ctx, det, codec, points, i)
        for i, (det, codec) in enumerate(zip(dets, codecs, strict=True))
    ]
    vs = [f.v for f in found]
    transfer = transfer_scores(ctx, dets, codecs, vs, "test")
    transfer_test = [[scores[1] for scores in row] for row in transfer]
    outcomes = []
    for i, (det, original) in enumerate(zip(dets, originals, strict=True)):
        outcomes.append(
            DetOutcome(
                name=det.name,
                knob=det.choice.knob,
                value=det.choice.value,
                delta_size=det.delta_size,
                head_size=det.head_size,
                theta_size=det.layout.size,
                original_dev=original.dev_score,
                original_test=original.test_score,
                subspace_dev=found[i].dev_score,
                subspace_test=transfer_test[i][i],
                original_metrics=original.test_metrics,
                subspace_metrics=transfer[i][i][0],
            )
        )
    grid = landscape(ctx, dets, codecs, points, vs) if cfg.grid_size else None
    out = (
        Path(cfg.output_dir)
        if cfg.output_dir
        else Path(tempfile.mkdtemp(prefix="s3delta-subspace-"))
    )
    artifacts = write_artifacts(out, dets, codecs, thetas, points, vs, grid)
    result = SubspaceResult(
        config=cfg.model_dump(),
        dets=outcomes,
        d=cfg.d,
        transfer_test=transfer_test,
        points=points.cpu().tolist(),
        v=[v.cpu().tolist() for v in vs],
        grid=grid or {},
        stages={
            "history": stage1.history,
            "recon_errors": stage1.recon_errors,
            "stage2_history": {d.name: f.history for d, f in zip(dets, found, strict=True)},
            "stage2_best_step": {d.name: f.best_step for d, f in zip(dets, found, strict=True)},
            "stage2_lr": {d.name: f.lr for d, f in zip(dets, found, strict=True)},
            "stage2_tuning": {d.name: f.tuning for d, f in zip(dets, found, strict=True)},
            "stage0_best_step": {d.name: o.best_step for d, o in zip(dets, originals, strict=True)},
        },
        split_sizes=dict(ctx.splits.sizes),
        wall_time_s=time.perf_counter() - started,
        device=str(ctx.device),
        artifacts=artifacts,
        timings=ctx.timings.summary(time.perf_counter() - started),
    )
    result.config["protocol"] = ctx.splits.protocol
    result.config["threads"] = ctx.threads
    path = out / "result.json"
    path.write_text(json.dumps(result_to_dict(result), indent=2))
    result.artifacts["result.json"] = str(path)
    return result


def result_to_dict(result: SubspaceResult) -> dict[str, Any]:
    """A JSON-safe dict with the derived percentages added."""
    data = asdict(result)
    for det, row in zip(data["dets"], result.dets, strict=True):
        det["subspace_pct"] = row.subspace_pct
    data["transfer_pct"] = result.transfer_pct
    data["subspace_pct_mean"] = result.subspace_pct_mean
    data["transfer_pct_mean"] = result.transfer_pct_mean
    return data
