"""Gates: one logit per candidate and the shifted global sigmoid (spec section 2).

    p_i = sigmoid((alpha_i - b) / beta),   sum_i n_i p_i = B

The shift b is shared by all candidates and solved by bisection at every call (no
gradient flows through it), so the expected size sits exactly at the budget whatever
the logits are. If the whole space fits in the budget, every p is 1.
"""

from __future__ import annotations

import torch
from torch import nn

BISECTION_STEPS = 200


def solve_shift(
    alpha: torch.Tensor, sizes: torch.Tensor, budget: float, beta: float = 1.0
) -> float:
    """The b with sum n_i sigmoid((alpha_i - b)/beta) = budget, to float64 precision.

    Returns -inf when the whole space fits in the budget (all p = 1).
    """
    a = alpha.detach().double().cpu()
    n = sizes.detach().double().cpu()
    total = float(n.sum())
    if budget >= total:
        return float("-inf")

    def expected(b: float) -> float:
        return float((n * torch.sigmoid((a - b) / beta)).sum())

    lo, hi = float(a.min()) - beta, float(a.max()) + beta
    while expected(lo) < budget:
        lo -= 2 * (hi - lo)
    while expected(hi) > budget:
        hi += 2 * (hi - lo)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if expected(mid) > budget:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def annealed_temperature(start: float, end: float | None, step: int, steps: int) -> float:
    """Gate temperature at ``step`` (1-based) of ``steps``: geometric from ``start`` to ``end``.

    Annealing toward a small temperature makes the relaxed-Bernoulli samples nearly
    binary late in the search, so the supernet is trained closer to the discrete
    structures it will be cut down to. ``end=None`` keeps ``start`` throughout.
    """
    if end is None or steps <= 1 or end == start:
        return start
    fraction = min(max((step - 1) / (steps - 1), 0.0), 1.0)
    return float(start * (end / start) ** fraction)


class GlobalSigmoidGates(nn.Module):
    """Logits alpha (init 0), the budget-holding probabilities p, and gate sampling.

    ``rescale`` keeps the reference code's p <- p / sum(p) * stopgrad(sum(p)), which
    leaves p's values unchanged but couples gradients so gates compete for the budget.
    ``gradient_projection`` removes from alpha's gradient its component along the
    budget constraint's normal (n_i p_i (1 - p_i) / beta), so a step moves along the
    constraint surface rather than relying on the shift alone.
    """

    def __init__(
        self,
        sizes: list[int],
        budget: int,
        beta: float = 1.0,
        rescale: bool = True,
        gradient_projection: bool = False,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(len(sizes)))
        self.sizes: torch.Tensor
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.float64))
        self.budget = float(budget)
        self.beta = beta
        self.rescale = rescale
        self.temperature = temperature
        self.last_shift = 0.0
        if gradient_projection:
            self.alpha.register_hook(self._project)

    def probabilities(self) -> torch.Tensor:
        """p with sum n_i p_i = budget (float32, differentiable in alpha)."""
        b = solve_shift(self.alpha, self.sizes, self.budget, self.beta)
        self.last_shift = b
        if b == float("-inf"):
            return torch.ones_like(self.alpha)
        p = torch.sigmoid((self.alpha - b) / self.beta)
        if self.rescale:
            s = p.sum()
            p = p / s * s.detach()
        return p

    def expected_size(self) -> float:
        with torch.no_grad():
            return float((self.probabilities().double() * self.sizes).sum())

    def sample(
        self,
        p: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Relaxed Bernoulli z = sigmoid((logit p + logit u) / temperature), u ~ U(0, 1).

        ``noise`` reuses a drawn u (one draw shared by several forward passes)."""
        u = noise if noise is not None else self.draw_noise(generator)
        u = u.to(p.device)
        u = u.clamp(1e-6, 1 - 1e-6)
        pc = p.clamp(1e-6, 1 - 1e-6)
        return torch.sigmoid((torch.logit(pc) + torch.logit(u)) / self.temperature)

    def draw_noise(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """u ~ U(0, 1), one per candidate, drawn on the CPU (same stream on any device)."""
        return torch.rand(self.alpha.shape, generator=generator, device="cpu")

    def _project(self, grad: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            p = torch.sigmoid((self.alpha - self.last_shift) / self.beta)
            normal = (self.sizes.to(grad.dtype) * p * (1 - p) / self.beta).to(grad.device)
            denom = normal.dot(normal)
            if float(denom) == 0.0:
                return grad
            return grad - normal * (grad.dot(normal) / denom)
