"""The gated supernet: every candidate of a space hooked onto a frozen backbone, one gate each.

Before each backbone forward a pre-hook sets the gate vector: a relaxed-Bernoulli
sample of p while training, p itself in eval (spec section 2).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from search_space.delta_set import DeltaSet, DeltaSpec
from search_space.deltas import GateSlot
from search_space.discretize import greedy_select
from search_space.gates import GlobalSigmoidGates
from search_space.positions import Candidate


class GatedSupernet(nn.Module):
    """Deltas for all ``candidates`` plus `GlobalSigmoidGates` holding sum n_i p_i = budget."""

    def __init__(
        self,
        backbone: nn.Module,
        candidates: Sequence[Candidate],
        budget: int,
        *,
        beta: float = 1.0,
        rescale: bool = True,
        gradient_projection: bool = False,
        lora_scale: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.candidates = list(candidates)
        self.budget = budget
        self.slot = GateSlot()
        specs = [DeltaSpec(c.site, c.kind, c.options) for c in self.candidates]
        self.delta_set = DeltaSet(backbone, specs, self.slot, lora_scale)
        self.gates = GlobalSigmoidGates(
            [c.size for c in self.candidates], budget, beta, rescale, gradient_projection
        )
        self.generator = torch.Generator().manual_seed(seed)
        # when set, every forward uses these gate values (e.g. the discrete structure's 0/1)
        self.fixed_z: torch.Tensor | None = None
        self._held_noise: torch.Tensor | None = None
        self._handle = backbone.register_forward_pre_hook(self._set_gates)

    def _set_gates(self, module: nn.Module, args: Any) -> None:
        if self.fixed_z is not None:
            self.slot.z = self.fixed_z
            return
        p = self.gates.probabilities()
        if self.training:
            self.slot.z = self.gates.sample(p, self.generator, self._held_noise)
        else:
            self.slot.z = p

    @contextmanager
    def shared_sample(self) -> Iterator[None]:
        """One draw of the gate noise u for every forward pass inside.

        The passes of a second-order alpha step (virtual step, validation loss, the two
        finite-difference passes) must see the same gate sample, or the difference of the
        two Hessian passes is sampling noise divided by 2 eps rather than a derivative.
        z is still recomputed from the current p on each pass, so gradients reach alpha."""
        self._held_noise = self.gates.draw_noise(self.generator)
        try:
            yield
        finally:
            self._held_noise = None

    def delta_parameters(self) -> list[nn.Parameter]:
        return list(self.delta_set.parameters())

    def gate_parameters(self) -> list[nn.Parameter]:
        return [self.gates.alpha]

    def probabilities(self) -> dict[str, float]:
        with torch.no_grad():
            p = self.gates.probabilities()
        return {c.name: float(v) for c, v in zip(self.candidates, p.tolist(), strict=True)}

    def expected_size(self) -> float:
        return self.gates.expected_size()

    def discretize(self) -> list[Candidate]:
        """Greedy structure from a freshly shifted p (spec section 4)."""
        with torch.no_grad():
            p = self.gates.probabilities().tolist()
        return greedy_select(self.candidates, p, self.budget)

    def discrete_gates(self, chosen: Sequence[Candidate]) -> torch.Tensor:
        """z = 1 for the chosen candidates and 0 for the rest (the structure inside the supernet)."""
        names = {c.name for c in chosen}
        z = [1.0 if c.name in names else 0.0 for c in self.candidates]
        return torch.tensor(z, device=self.gates.alpha.device)

    def remove(self) -> None:
        """Unhook everything; the backbone is as it was."""
        self._handle.remove()
        self.delta_set.detach_all()
        self.slot.z = None
