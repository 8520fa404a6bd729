"""One training phase (search or retrain): steps, evaluation, best-dev selection, checkpoints.

Selection keeps the state with the best dev score; ties go to the *later* evaluation
(with CoLA's constant predictions every early eval ties at MCC 0, and keeping the
earliest made the searched structure effectively random, spec section 8). With
``select_on="loss"`` the lowest dev loss wins instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from workers.batch_stream import BatchStream
from workers.checkpoint import Checkpointer
from workers.evaluate import to_device
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import ProgressEvent

Evaluator = Callable[[], tuple[dict[str, float], float, float]]


@dataclass
class PhaseOutcome:
    best_metrics: dict[str, float]
    best_score: float
    best_loss: float
    best_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    trajectory: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device))


def linear_decay(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear decay to zero without warm-up (spec section 3)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / max(steps, 1)))


@dataclass(kw_only=True)
class Phase:
    """Everything a phase needs; `run` drives it. Built with keywords only: 13 positional
    arguments of similar types were too easy to pass in the wrong order."""

    name: str
    model: TaskModel
    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LambdaLR]
    stream: BatchStream
    steps: int
    eval_every: int
    evaluate: Evaluator
    device: torch.device
    grad_clip: float
    select_on: str = "score"
    callback: Callable[[ProgressEvent], None] | None = None
    checkpointer: Checkpointer | None = None
    generator: torch.Generator | None = None  # gate sampling RNG, checkpointed with the rest
    before_step: Callable[[int], dict[str, float]] | None = None  # the alpha step of a search
    step_metrics: Callable[[], dict[str, float]] | None = None
    # metrics taken right after each evaluation (a search's gate diagnostics along the way)
    # (called with the step and the dev score just measured)
    after_eval: Callable[[int, float], dict[str, float]] | None = None
    # checkpointed with the phase but stepped elsewhere (the alpha optimiser of a search)
    aux_optimizers: list[torch.optim.Optimizer] = field(default_factory=list)
    aux_schedulers: list[torch.optim.lr_scheduler.LambdaLR] = field(default_factory=list)
    # evaluations before this step are logged but never selected (AdaLoRA: before its final
    # ranks are fixed a state holds more parameters than the budget)
    select_from: int = 0
    # wall time: steps go to "<name>_steps", checkpoint writes and reads to "checkpoints"
    # (the evaluator records its own time under "evaluation")
    timings: Timings = field(default_factory=Timings)

    def _better(self, score: float, loss: float, best_score: float, best_loss: float) -> bool:
        if self.select_on == "loss":
            return loss <= best_loss
        return score >= best_score or (math.isnan(best_score) and not math.isnan(score))

    def _snapshot(self, step: int, best: dict[str, Any], outcome: PhaseOutcome) -> dict[str, Any]:
        return {
            "step": step,
            "trainable": trainable_state(self.model),
            "optimizers": [o.state_dict() for o in self.optimizers + self.aux_optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers + self.aux_schedulers],
            "rng": torch.get_rng_state(),
            "generator": self.generator.get_state()
            if self.generator is not None
            else torch.empty(0),
            "best_state": best["state"],
            "best": [best["score"], best["loss"], float(best["step"])],
            "best_metrics": best["metrics"],
            "history": outcome.history,
            "trajectory": [[s, v] for s, v in outcome.trajectory],
            "seconds": outcome.seconds,
        }

    def run(self) -> tuple[PhaseOutcome, dict[str, torch.Tensor]]:
        """Train for ``steps``; return the outcome and the best state (already loaded)."""
        with self.timings.measure(f"{self.name}_steps"):
            return self._run()

    def _run(self) -> tuple[PhaseOutcome, dict[str, torch.Tensor]]:
        outcome = PhaseOutcome({}, float("-inf"), float("inf"), 0)
        best: dict[str, Any] = {
            "state": trainable_state(self.model),
            "score": float("-inf"),
            "loss": float("inf"),
            "step": 0,
            "metrics": {},
        }
        start_step = 0
        with self.timings.measure("checkpoints"):
            saved = self.checkpointer.load(self.name) if self.checkpointer else None
        if saved is not None:
            start_step = int(saved["step"])
            load_trainable_state(self.model, saved["trainable"])
            for opt, st in zip(
                self.optimizers + self.aux_optimizers, saved["optimizers"], strict=True
            ):
                opt.load_state_dict(st)
            for sch, st in zip(
                self.schedulers + self.aux_schedulers, saved["schedulers"], strict=True
            ):
                sch.load_state_dict(st)
            torch.set_rng_state(saved["rng"])
            if self.generator is not None:
                self.generator.set_state(saved["generator"])
            best = {
                "state": saved["best_state"],
                "score": saved["best"][0],
                "loss": saved["best"][1],
                "step": int(saved["best"][2]),
                "metrics": saved["best_metrics"],
            }
            outcome.history = list(saved["history"])
            outcome.trajectory = [(int(s), float(v)) for s, v in saved["trajectory"]]
            outcome.seconds = float(saved["seconds"])
        clock = time.perf_counter() - outcome.seconds
        params = [p for g in self.optimizers for group in g.param_groups for p in group["params"]]
        for step in range(start_step + 1, self.steps + 1):
            self.model.train()
            metrics: dict[str, float] = {}
            if self.before_step is not None:
                metrics.update(self.before_step(step))
            batch = to_device(self.stream.batch_at(step - 1), self.device)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            loss = self.model.loss(batch)
            if not torch.isfinite(loss):  # fail as Optuna does for a NaN objective
                raise FloatingPointError(
                    f"{self.name} step {step}: the training loss is {float(loss)}: training "
                    "diverged; lower delta_lr / head_lr / finetune_lr or check the data"
                )
            loss.backward()
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
            for opt in self.optimizers:
                opt.step()
            for sch in self.schedulers:
                sch.step()
            metrics["loss"] = float(loss.detach())
            if self.step_metrics is not None:
                metrics.update(self.step_metrics())
            if "expected_size" in metrics:
                outcome.trajectory.append((step, metrics["expected_size"]))
            if step % self.eval_every == 0 or step == self.steps:
                dev_metrics, score, dev_loss = self.evaluate()
                metrics.update(dev_score=score, dev_loss=dev_loss)
                if self.after_eval is not None:
                    metrics.update(self.after_eval(step, score))
                selectable = step >= self.select_from
                if selectable and self._better(score, dev_loss, best["score"], best["loss"]):
                    best = {
                        "state": trainable_state(self.model),
                        "score": score,
                        "loss": dev_loss,
                        "step": step,
                        "metrics": dev_metrics,
                    }
            outcome.history.append({"step": float(step), **metrics})
            outcome.seconds = time.perf_counter() - clock
            if self.callback is not None:
                self.callback(ProgressEvent(self.name, step, self.steps, metrics))
            if self.checkpointer is not None and self.checkpointer.due(step) and step < self.steps:
                with self.timings.measure("checkpoints"):
                    self.checkpointer.save(self.name, self._snapshot(step, best, outcome))
        load_trainable_state(self.model, best["state"])
        outcome.best_metrics, outcome.best_score = best["metrics"], best["score"]
        outcome.best_loss, outcome.best_step = best["loss"], best["step"]
        return outcome, best["state"]
