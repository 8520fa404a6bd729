"""What the phases of one trial share: data, tokenizer, device, callback, checkpoints, timings.

Kept apart from `workers.trial` so that a method (`workers.methods`) can run its own phase
(the s3delta search) without importing the trial runner that calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from workers.batch_stream import BatchStream
from workers.checkpoint import Checkpointer
from workers.data import Example, TaskSpec, cap_examples
from workers.evaluate import evaluate
from workers.loaded_task import Callback, LoadedTask
from workers.phase import Phase, linear_decay
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import TrialConfig


class TrialContext(LoadedTask):
    """What both phases share: data, tokenizer, device, callback, checkpoints, timings."""

    def __init__(self, cfg: TrialConfig, spec: TaskSpec, callback: Callback) -> None:
        super().__init__(cfg, spec, callback, Timings())
        self.cfg = cfg
        self.checkpointer = Checkpointer(cfg.checkpoint_dir, cfg.checkpoint_every)

    def encode(self, examples: list[Example], split: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of ``examples``; a split is encoded once per trial (search and
        retrain share train and dev)."""
        return self.encode_examples(examples, split)

    def evaluator(self, model: TaskModel, examples: list[Example], split: str) -> Callable[[], Any]:
        encoded = self.encode(examples, split)

        def run() -> Any:
            with self.timings.measure("evaluation"):
                return evaluate(
                    model, encoded, examples, self.cfg.eval_batch_size, self.device, self.tokenizer
                )

        return run

    def dev_for(self, phase: str) -> tuple[list[Example], str]:
        """The dev examples a phase selects on: a seeded subset during search if configured."""
        limit = self.cfg.search_eval_examples if phase == "search" else None
        if limit is None or limit >= len(self.splits.dev):
            return self.splits.dev, "dev"
        return cap_examples(self.splits.dev, limit, self.cfg.seed), f"dev-{limit}"

    def phase(
        self,
        name: str,
        model: TaskModel,
        optimizer: torch.optim.Optimizer,
        steps: int,
        stream: BatchStream,
        **extra: Any,
    ) -> Phase:
        """A phase that steps ``optimizer`` under linear decay, selecting on the dev half;
        both phases share evaluation, clipping, selection, progress and checkpoints."""
        dev, dev_name = self.dev_for(name)
        return Phase(
            name=name,
            model=model,
            optimizers=[optimizer],
            schedulers=[linear_decay(optimizer, steps)],
            stream=stream,
            steps=steps,
            eval_every=self.cfg.eval_every,
            evaluate=self.evaluator(model, dev, dev_name),
            device=self.device,
            grad_clip=self.cfg.grad_clip,
            select_on=self.cfg.select_on,
            callback=self.callback,
            checkpointer=self.checkpointer,
            timings=self.timings,
            **extra,
        )
