"""The 2-D landscape plane spanned by the points P_k, and a grid of points on it.

The plane is the affine plane through the centroid of the P_k along their two main
directions (SVD of the centred points). For K = 3 it is exactly the plane through the
three points (three centred points span at most two directions), whatever d is; for
K > 3 it is the least-squares plane and ``residual`` says how far the points lie off it.
Each basis vector's sign is fixed (largest component positive) so a plane is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Plane:
    """origin (d,), orthonormal basis (2, d), the points' plane coordinates (K, 2)."""

    origin: torch.Tensor
    basis: torch.Tensor
    coords: torch.Tensor
    residual: float  # root of the summed squared distances of the P_k from the plane

    def point(self, u: float, v: float) -> torch.Tensor:
        return self.origin + u * self.basis[0] + v * self.basis[1]


@dataclass(frozen=True)
class Grid:
    """G x G points of a plane: axis values ``u`` and ``v`` (G,), and ``points`` (G, G, d)."""

    u: torch.Tensor
    v: torch.Tensor
    points: torch.Tensor


def plane_through(points: torch.Tensor) -> Plane:
    """The landscape plane of ``points`` (K, d), K >= 2 and d >= 2."""
    if points.dim() != 2 or points.shape[0] < 2 or points.shape[1] < 2:
        raise ValueError(
            f"a 2-D landscape needs at least 2 points of dimension d >= 2, got {tuple(points.shape)}"
        )
    pts = points.detach().double()
    origin = pts.mean(0)
    centred = pts - origin
    _, _, vh = torch.linalg.svd(centred, full_matrices=True)
    basis = vh[:2].clone()
    for row in basis:
        if row[row.abs().argmax()] < 0:
            row.neg_()
    coords = centred @ basis.T
    residual = float(torch.linalg.norm(centred - coords @ basis))
    return Plane(origin.float(), basis.float(), coords.float(), residual)


def grid_on(plane: Plane, resolution: int, margin: float = 0.25) -> Grid:
    """A square ``resolution`` x ``resolution`` grid around the points, ``margin`` of their
    span added on every side (same scale on both axes, so distances read true)."""
    if resolution < 2:
        raise ValueError(f"grid resolution {resolution} must be at least 2")
    if margin < 0:
        raise ValueError(f"grid margin {margin} must be >= 0")
    lo, hi = plane.coords.min(0).values, plane.coords.max(0).values
    span = float((hi - lo).max().clamp_min(1e-6))
    half = span * (0.5 + margin)
    centre = (lo + hi) / 2
    u = torch.linspace(float(centre[0]) - half, float(centre[0]) + half, resolution)
    v = torch.linspace(float(centre[1]) - half, float(centre[1]) + half, resolution)
    uu, vv = torch.meshgrid(u, v, indexing="ij")
    points = plane.origin + uu.unsqueeze(-1) * plane.basis[0] + vv.unsqueeze(-1) * plane.basis[1]
    return Grid(u, v, points)
