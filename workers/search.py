"""The bi-level (DARTS) alpha step of an S3Delta search (spec section 3).

The training half of the train set updates the delta weights w (in `Phase.run`); the
other half updates the gate logits alpha here, once per step before the w step.

- first order: alpha's gradient of the alpha-half loss at the current w.
- second order: the DARTS unrolled gradient. A virtual SGD step w' = w - xi grad_w L_tr(w),
  then grad_alpha L_val(w') - xi * (grad_alpha L_tr(w+) - grad_alpha L_tr(w-)) / (2 eps)
  with w+- = w +- eps dw', dw' = grad_w' L_val(w'), eps = 0.01 / ||dw'||. About five
  passes per step; done in place on w (saved and restored), so no second model copy.
  All passes of one step share one draw of the gate noise u (the reference does the
  same); drawing it afresh per pass made the finite difference mostly sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

from workers.batch_stream import BatchStream
from workers.evaluate import to_device
from workers.task_model import TaskModel


def _grads(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def make_alpha_step(
    *,
    model: TaskModel,
    alpha: torch.nn.Parameter,
    w_params: list[torch.nn.Parameter],
    alpha_opt: torch.optim.Optimizer,
    alpha_sched: torch.optim.lr_scheduler.LambdaLR,
    alpha_stream: BatchStream,
    train_stream: BatchStream,
    device: torch.device,
    order: int,
    grad_clip: float,
    w_lr: Callable[[], float],
    shared_sample: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> Callable[[int], dict[str, float]]:
    """A closure doing one alpha update for a step; returns its metrics.

    ``shared_sample`` holds one gate-noise draw across the passes of a second-order step
    (`GatedSupernet.shared_sample`)."""

    def first_order(step: int) -> torch.Tensor:
        val = to_device(alpha_stream.batch_at(step - 1), device)
        loss = model.loss(val)
        (g,) = _grads(loss, [alpha])
        alpha.grad = g
        return loss

    def second_order(step: int) -> torch.Tensor:
        xi = w_lr()
        train = to_device(train_stream.batch_at(step - 1), device)
        val = to_device(alpha_stream.batch_at(step - 1), device)
        original = [p.detach().clone() for p in w_params]
        g_train = _grads(model.loss(train), w_params)
        with torch.no_grad():
            for p, g in zip(w_params, g_train, strict=True):
                p.sub_(xi * g)
        val_loss = model.loss(val)
        grads = _grads(val_loss, [alpha, *w_params])
        g_alpha, dw = grads[0], grads[1:]
        norm = float(torch.stack([(d * d).sum() for d in dw]).sum().sqrt())
        eps = 0.01 / max(norm, 1e-12)
        with torch.no_grad():
            for p, o, d in zip(w_params, original, dw, strict=True):
                p.copy_(o + eps * d)
        (g_plus,) = _grads(model.loss(train), [alpha])
        with torch.no_grad():
            for p, o, d in zip(w_params, original, dw, strict=True):
                p.copy_(o - eps * d)
        (g_minus,) = _grads(model.loss(train), [alpha])
        with torch.no_grad():
            for p, o in zip(w_params, original, strict=True):
                p.copy_(o)
        alpha.grad = g_alpha - xi * (g_plus - g_minus) / (2 * eps)
        return val_loss

    def second_order_shared(step: int) -> torch.Tensor:
        with shared_sample():
            return second_order(step)

    compute = first_order if order == 1 else second_order_shared

    def alpha_step(step: int) -> dict[str, float]:
        alpha_opt.zero_grad(set_to_none=True)
        loss = compute(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"search step {step}: the alpha-half loss is {float(loss)}: the search "
                "diverged; lower structure_lr or delta_lr"
            )
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([alpha], grad_clip)
        alpha_opt.step()
        alpha_sched.step()
        return {"alpha_loss": float(loss.detach())}

    return alpha_step
