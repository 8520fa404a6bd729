"""Random convex weights for mixing the K points P_k (stage 1)."""

from __future__ import annotations

import torch


def convex_weights(k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """K non-negative weights summing to 1, drawn by uniform stick-breaking.

    For K = 3 this is exactly the spec's draw: a ~ U(0, 1), b ~ U(0, 1 - a), c = 1 - a - b;
    for other K the same rule continues: w_i ~ U(0, what is left), the last takes the rest.
    """
    if k < 1:
        raise ValueError(f"need at least one weight, got k={k}")
    left = 1.0
    weights = []
    for _ in range(k - 1):
        w = float(torch.rand((), generator=generator)) * left
        weights.append(w)
        left -= w
    weights.append(left)
    return torch.tensor(weights)


def mix(points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k w_k P_k for points of shape (K, d)."""
    if points.shape[0] != weights.shape[0]:
        raise ValueError(f"{points.shape[0]} points but {weights.shape[0]} weights")
    return (weights.to(points.dtype).unsqueeze(-1) * points).sum(0)
