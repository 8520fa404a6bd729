"""Stage 1: per-DET encoders and decoders that share one d-dimensional subspace.

Each step: P_k = E_k(theta_k); random convex weights w; P_mix = sum_k w_k P_k;
loss = sum_k [recon_weight * ||theta_k - D_k(P_k) - theta0_k|| + task_loss_k(theta0_k +
D_k(P_mix))], all task losses on the same batch. Only the encoders and decoders train.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from search_space.subspace import SubspaceCodec, convex_weights, mix
from workers.batch_stream import BatchStream
from workers.evaluate import to_device
from workers.phase import linear_decay
from workers.runtime import seed_everything
from workers.subspace.context import SubspaceContext
from workers.subspace.det_model import DetModel


@dataclass
class Stage1Outcome:
    codecs: list[SubspaceCodec]
    points: torch.Tensor  # (K, d), the final P_k
    history: list[dict[str, float]] = field(default_factory=list)
    recon_errors: list[float] = field(default_factory=list)  # final ||theta_k - dec(P_k)||


def make_codecs(
    ctx: SubspaceContext, dets: list[DetModel], thetas: list[torch.Tensor]
) -> list[SubspaceCodec]:
    """Seeded encoders and decoders, decoders fitted to theta_k if ``decoder_init`` is fit."""
    seed_everything(ctx.cfg.seed)
    codecs = [SubspaceCodec(det.theta0, ctx.cfg.d).to(ctx.device) for det in dets]
    if ctx.cfg.decoder_init == "fit":
        for codec, theta in zip(codecs, thetas, strict=True):
            codec.fit_decoder(theta.to(ctx.device))
    return codecs


def stage1_loss(
    dets: list[DetModel],
    codecs: list[SubspaceCodec],
    thetas: list[torch.Tensor],
    weights: torch.Tensor,
    batch: dict[str, torch.Tensor] | None,
    recon_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The stage-1 loss; ``batch`` None leaves the task term out (reconstruction alone)."""
    points = torch.stack([c.encode(t) for c, t in zip(codecs, thetas, strict=True)])
    recon = [
        torch.linalg.vector_norm(t - c.decode(p))
        for c, t, p in zip(codecs, thetas, points, strict=True)
    ]
    loss = recon_weight * torch.stack(recon).sum()
    task = torch.zeros((), device=loss.device)
    if batch is not None:
        mixed = mix(points, weights)
        task = torch.stack(
            [det.loss_at(c.decode(mixed), batch) for det, c in zip(dets, codecs, strict=True)]
        ).sum()
    metrics = {"recon": float(torch.stack(recon).sum().detach()), "task_loss": float(task.detach())}
    return loss + task, metrics


def train_codecs(
    ctx: SubspaceContext, dets: list[DetModel], thetas: list[torch.Tensor]
) -> Stage1Outcome:
    cfg = ctx.cfg
    thetas = [t.to(ctx.device) for t in thetas]
    codecs = make_codecs(ctx, dets, thetas)
    params = [p for c in codecs for p in c.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.stage1_lr)
    sched = linear_decay(opt, cfg.stage1_steps)
    stream = BatchStream(ctx.encode("train"), cfg.stage1_batch_size, cfg.seed + 3)
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    for det in dets:
        det.model.train()
    with ctx.timings.measure("stage1_steps"):
        for step in range(1, cfg.stage1_steps + 1):
            weights = convex_weights(len(dets), generator).to(ctx.device)
            batch = to_device(stream.batch_at(step - 1), ctx.device)
            opt.zero_grad(set_to_none=True)
            loss, metrics = stage1_loss(dets, codecs, thetas, weights, batch, cfg.recon_weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"stage 1 step {step}: the loss is {float(loss)}; lower stage1_lr"
                )
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            metrics["loss"] = float(loss.detach())
            history.append({"step": float(step), **metrics})
            ctx.report("stage1", step, cfg.stage1_steps, **metrics)
    with torch.no_grad():
        points = torch.stack([c.encode(t) for c, t in zip(codecs, thetas, strict=True)])
        errors = [
            float(torch.linalg.vector_norm(t - c.decode(p)))
            for c, t, p in zip(codecs, thetas, points, strict=True)
        ]
    for codec in codecs:
        codec.requires_grad_(False)
    return Stage1Outcome(codecs, points.detach(), history, errors)
