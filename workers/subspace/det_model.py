"""One DET on its own copy of the frozen backbone, with its head, as a function of theta.

Classification-head policy: each DET has its own head, trained in stage 0 with the
deltas, and the head is part of theta_k (delta tensors + head tensors). The subspace
then holds each DET's whole task solution, as the paper's T5 DETs do (T5 needs no new
head), and theta0 decodes to chance, so "% of the original" is not propped up by a
fixed, separately trained head. The heads start from the same seeded initialisation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from search_space import freeze
from search_space.subspace import DetChoice, DetModule, FlatLayout
from workers.runtime import seed_everything
from workers.subspace.context import SubspaceContext
from workers.task_model import TaskModel


class _LossOf(nn.Module):
    """forward = the task model's loss, so `functional_call` can swap theta in."""

    def __init__(self, model: TaskModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model.loss(batch)


@dataclass
class DetModel:
    """A DET's task model, the layout of its theta and its fixed initialisation theta0."""

    choice: DetChoice
    model: TaskModel
    layout: FlatLayout
    theta0: torch.Tensor
    delta_size: int
    head_size: int

    def __post_init__(self) -> None:
        self._loss = _LossOf(self.model)

    @property
    def name(self) -> str:
        return self.choice.name

    def loss_at(self, theta: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Task loss with the DET's tensors replaced by ``theta`` (gradients reach theta)."""
        params = {f"model.{n}": t for n, t in self.layout.unflatten(theta).items()}
        return functional_call(self._loss, params, (batch,))  # type: ignore[no-any-return]

    def load(self, theta: torch.Tensor) -> None:
        """Put ``theta`` into the model's own parameters (before plain evaluation)."""
        self.layout.load_into(self.model, theta)

    def theta(self) -> torch.Tensor:
        return self.layout.flatten_module(self.model)


def build_det_models(
    ctx: SubspaceContext, backbone: nn.Module, choices: list[DetChoice]
) -> list[DetModel]:
    """Each DET installed on its own copy of ``backbone`` (frozen), heads seeded alike."""
    freeze(backbone)
    out = []
    for choice in choices:
        own = copy.deepcopy(backbone)
        seed_everything(ctx.cfg.seed)
        model = TaskModel(own, ctx.spec, ctx.seq2seq, ctx.cfg.pooling)
        deltas = DetModule(own, choice)
        if deltas.num_params() != choice.size:
            raise RuntimeError(
                f"DET {choice.name}: built {deltas.num_params()} parameters, expected {choice.size}"
            )
        model.attach_deltas(deltas)
        model.to(ctx.device)
        layout = FlatLayout.trainable(model)
        out.append(
            DetModel(
                choice,
                model,
                layout,
                layout.flatten_module(model),
                choice.size,
                model.head_params(),
            )
        )
    return out
