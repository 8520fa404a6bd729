"""Per-DET encoder and decoder of the shared subspace (spec, stage 1).

E_k: Linear(|theta_k| -> d) -> tanh -> Linear(d -> d) maps a solution to a point P_k.
D_k: Linear(d -> |theta_k|, no bias) maps a point back; the decoded solution is
theta0_k + D_k(P), with theta0_k the DET's fixed initialisation (a buffer, never trained).
"""

from __future__ import annotations

import torch
from torch import nn


class SubspaceCodec(nn.Module):
    """Encoder, decoder and theta0 of one DET in a d-dimensional subspace."""

    def __init__(self, theta0: torch.Tensor, d: int) -> None:
        super().__init__()
        if d <= 0:
            raise ValueError(f"d={d}: the subspace needs at least one dimension, e.g. d=4")
        if theta0.dim() != 1:
            raise ValueError(f"theta0 must be a vector, got shape {tuple(theta0.shape)}")
        size = int(theta0.numel())
        self.size, self.d = size, d
        self.encoder = nn.Sequential(nn.Linear(size, d), nn.Tanh(), nn.Linear(d, d))
        self.decoder = nn.Linear(d, size, bias=False)
        self.register_buffer("theta0", theta0.detach().clone().float())

    def encode(self, theta: torch.Tensor) -> torch.Tensor:
        """P = E(theta), shape (d,)."""
        return self.encoder(theta)  # type: ignore[no-any-return]

    def decode(self, point: torch.Tensor) -> torch.Tensor:
        """theta0 + D(P), shape (|theta|,) (differentiable in P and in D)."""
        return self.theta0 + self.decoder(point)  # type: ignore[operator]

    def reconstruction_error(self, theta: torch.Tensor) -> torch.Tensor:
        """||theta - decode(E(theta))||_2, the spec's reconstruction term (not squared)."""
        return torch.linalg.vector_norm(theta - self.decode(self.encode(theta)))

    @torch.no_grad()
    def fit_decoder(self, theta: torch.Tensor) -> None:
        """Set D to the least-norm map with decode(E(theta)) = theta exactly.

        D = (theta - theta0) P^T / |P|^2: where reconstruction-only training converges,
        reached in closed form so that short runs spend their steps on the task term."""
        point = self.encode(theta)
        scale = float(point.pow(2).sum())
        if scale == 0.0:
            raise ValueError("the encoder maps theta to the origin; cannot fit a decoder to it")
        target = theta - self.theta0  # type: ignore[operator]
        self.decoder.weight.copy_(torch.outer(target, point) / scale)
