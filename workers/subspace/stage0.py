"""Stage 0: each DET trained in its own space (deltas and head), best state on dev.

The same training phase as a trial's retrain (`workers.phase.Phase`: linear decay,
clipping, best-dev selection), so a DET's original-space score means what a manual
baseline's score means.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from workers.batch_stream import BatchStream
from workers.optim import head_group
from workers.phase import Phase, linear_decay
from workers.runtime import seed_everything
from workers.subspace.context import SubspaceContext
from workers.subspace.det_model import DetModel
from workers.trial_types import ProgressEvent


@dataclass
class Stage0Outcome:
    """theta_k (the trained solution) and its scores."""

    theta: torch.Tensor
    dev_score: float
    test_score: float
    test_metrics: dict[str, float] = field(default_factory=dict)
    best_step: int = 0


def train_det(ctx: SubspaceContext, det: DetModel) -> Stage0Outcome:
    """Train ``det`` for ``stage0_steps``; its model keeps the best-dev state."""
    cfg = ctx.cfg
    model = det.model
    assert model.deltas is not None
    delta_group = {"params": list(model.deltas.parameters()), "lr": cfg.stage0_lr, "name": "delta"}
    groups = [delta_group, *head_group(model.head, cfg.head_lr)]
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    stream = BatchStream(ctx.encode("train"), cfg.batch_size, cfg.seed + 2)
    seed_everything(cfg.seed)

    def progress(event: ProgressEvent) -> None:
        if ctx.callback is not None:
            ctx.callback(replace(event, phase=f"stage0:{det.name}"))

    phase = Phase(
        name="stage0",  # its steps' time goes to the stage0_steps bucket
        model=model,
        optimizers=[opt],
        schedulers=[linear_decay(opt, cfg.stage0_steps)],
        stream=stream,
        steps=cfg.stage0_steps,
        eval_every=cfg.eval_every,
        evaluate=lambda: ctx.score(model, "dev"),
        device=ctx.device,
        grad_clip=cfg.grad_clip,
        callback=progress,
        timings=ctx.timings,
    )
    outcome, _ = phase.run()
    test_metrics, test_score, _ = ctx.score(model, "test")
    return Stage0Outcome(
        det.theta(), outcome.best_score, test_score, test_metrics, outcome.best_step
    )
