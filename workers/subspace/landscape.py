"""The landscape: each DET's dev score over a grid on the plane of the P_k."""

from __future__ import annotations

from typing import Any

import torch

from search_space.subspace import SubspaceCodec, grid_on, plane_through
from workers.subspace.context import SubspaceContext
from workers.subspace.det_model import DetModel
from workers.subspace.stage2 import score_at


@torch.no_grad()
def landscape(
    ctx: SubspaceContext,
    dets: list[DetModel],
    codecs: list[SubspaceCodec],
    points: torch.Tensor,
    vs: list[torch.Tensor],
) -> dict[str, Any]:
    """Scores (K, G, G) on the ``grid-dev`` examples, with the plane and the points' places."""
    cfg = ctx.cfg
    plane = plane_through(points.cpu())
    grid = grid_on(plane, cfg.grid_size, cfg.grid_margin)
    size = cfg.grid_size
    total = size * size
    scores: list[list[list[float]]] = []
    for det, codec in zip(dets, codecs, strict=True):
        panel = []
        for a in range(size):
            row = []
            for b in range(size):
                point = grid.points[a, b].to(ctx.device)
                row.append(score_at(ctx, det, codec.decode(point), "grid-dev")[1])
                ctx.report(f"grid:{det.name}", a * size + b + 1, total)
            panel.append(row)
        scores.append(panel)
    v_coords = [((v.cpu() - plane.origin) @ plane.basis.T).tolist() for v in vs]
    return {
        "u": grid.u.tolist(),
        "v": grid.v.tolist(),
        "scores": scores,  # scores[k][a][b] at (u[a], v[b]) decoded by DET k
        "dets": [d.name for d in dets],
        "point_coords": plane.coords.tolist(),
        "v_coords": v_coords,
        "origin": plane.origin.tolist(),
        "basis": plane.basis.tolist(),
        "residual": plane.residual,
        "split": "dev",
        "examples": len(ctx.grid_dev),
        "plane": "affine plane through the centroid of the P_k along their two main "
        "directions (SVD); for K = 3 the plane through the three points",
    }
