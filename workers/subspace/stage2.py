"""Stage 2: optimise only a d-dimensional v through one DET's frozen decoder, then
transfer it: decode the same v through the other DETs' decoders, no further training.

v starts at mean + std * N(0, 1) of the P_k, per coordinate (seeded); the best v on dev
(checked every ``stage2_eval_every`` steps, ties to the later one) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from search_space.subspace import SubspaceCodec
from workers.batch_stream import BatchStream
from workers.evaluate import to_device
from workers.phase import linear_decay
from workers.runtime import seed_everything
from workers.subspace.context import Scores, SubspaceContext
from workers.subspace.det_model import DetModel


@dataclass
class Stage2Outcome:
    v: torch.Tensor  # best v on dev, (d,)
    v_init: torch.Tensor
    dev_score: float
    best_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    lr: float = 0.0
    tuning: list[dict[str, float]] = field(default_factory=list)  # Optuna: lr, dev score


def initial_v(points: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """mean + std * N(0, 1) of the points (K, d), per coordinate."""
    mean = points.mean(0)
    std = points.std(0, unbiased=False)
    noise = torch.randn(points.shape[1], generator=generator).to(points.device)
    return mean + std * noise


def score_at(ctx: SubspaceContext, det: DetModel, theta: torch.Tensor, split: str) -> Scores:
    """Scores of ``det`` with ``theta`` loaded."""
    det.load(theta)
    return ctx.score(det.model, split)


def optimise_v(
    ctx: SubspaceContext,
    det: DetModel,
    codec: SubspaceCodec,
    points: torch.Tensor,
    index: int,
    lr: float | None = None,
) -> Stage2Outcome:
    """Train v through ``codec``'s decoder on ``det``'s task loss; nothing else moves."""
    cfg = ctx.cfg
    lr = cfg.stage2_lr if lr is None else lr
    seed_everything(cfg.seed + index)
    generator = torch.Generator().manual_seed(cfg.seed * 1_000 + index)
    v0 = initial_v(points.detach(), generator).to(ctx.device)
    v = torch.nn.Parameter(v0.clone())
    codec.requires_grad_(False)
    opt = torch.optim.Adam([v], lr=lr)
    sched = linear_decay(opt, cfg.stage2_steps)
    stream = BatchStream(ctx.encode("train"), cfg.stage2_batch_size, cfg.seed + 10 + index)
    best_score, best_v, best_step = float("-inf"), v0.clone(), 0
    history: list[dict[str, float]] = []
    phase = f"stage2:{det.name}"
    with ctx.timings.measure("stage2_steps"):
        for step in range(1, cfg.stage2_steps + 1):
            det.model.train()
            batch = to_device(stream.batch_at(step - 1), ctx.device)
            opt.zero_grad(set_to_none=True)
            loss = det.loss_at(codec.decode(v), batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"stage 2 ({det.name}) step {step}: the loss is {float(loss)}; lower stage2_lr"
                )
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_([v], cfg.grad_clip)
            opt.step()
            sched.step()
            metrics = {"loss": float(loss.detach())}
            if step % cfg.stage2_eval_every == 0 or step == cfg.stage2_steps:
                with torch.no_grad():
                    _, score, dev_loss = score_at(ctx, det, codec.decode(v), "dev")
                metrics.update(dev_score=score, dev_loss=dev_loss)
                if score >= best_score:
                    best_score, best_v, best_step = score, v.detach().clone(), step
            history.append({"step": float(step), **metrics})
            ctx.report(phase, step, cfg.stage2_steps, **metrics)
    return Stage2Outcome(best_v, v0, best_score, best_step, history, lr)


def tune_v(
    ctx: SubspaceContext,
    det: DetModel,
    codec: SubspaceCodec,
    points: torch.Tensor,
    index: int,
) -> Stage2Outcome:
    """Stage 2 with its lr chosen by Optuna on dev (``stage2_lr_trials`` seeded TPE trials
    over ``stage2_lr_range``, log scale); the best trial's v is kept. Without trials, one
    run at ``stage2_lr``."""
    cfg = ctx.cfg
    if not cfg.stage2_lr_trials or cfg.stage2_lr_range is None:
        return optimise_v(ctx, det, codec, points, index)
    import optuna

    low, high = cfg.stage2_lr_range
    sampler = optuna.samplers.TPESampler(seed=cfg.seed * 1_000 + index)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    outcomes: dict[int, Stage2Outcome] = {}
    for _ in range(cfg.stage2_lr_trials):
        trial = study.ask()
        lr = trial.suggest_float("stage2_lr", low, high, log=True)
        outcomes[trial.number] = optimise_v(ctx, det, codec, points, index, lr)
        study.tell(trial, outcomes[trial.number].dev_score)
    best = outcomes[study.best_trial.number]
    best.tuning = [{"lr": o.lr, "dev_score": o.dev_score} for o in outcomes.values()]
    return best


@torch.no_grad()
def transfer_scores(
    ctx: SubspaceContext,
    dets: list[DetModel],
    codecs: list[SubspaceCodec],
    vs: list[torch.Tensor],
    split: str,
) -> list[list[Scores]]:
    """scores[i][j]: v found through DET i's decoder, decoded by DET j's decoder; the
    diagonal is each DET's subspace score."""
    return [
        [
            score_at(ctx, det, codec.decode(v), split)
            for det, codec in zip(dets, codecs, strict=True)
        ]
        for v in vs
    ]
