"""What the phases of one trial share: data, tokenizer, device, callback, checkpoints, timings.

Kept apart from `workers.trial` so that a method (`workers.methods`) can run its own phase
(the s3delta search) without importing the trial runner that calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from search_space import load_backbone
from search_space.backbone import is_seq2seq
from workers.batch_stream import BatchStream
from workers.checkpoint import Checkpointer
from workers.data import (
    Example,
    Splits,
    TaskSpec,
    cap_examples,
    cap_splits,
    encode_for_encoder,
    encode_for_t5,
    load_task,
    make_splits,
)
from workers.data.encode_cache import EncodeCache
from workers.evaluate import evaluate
from workers.phase import Phase, linear_decay
from workers.runtime import pick_device, set_threads
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import ProgressEvent, TrialConfig

Callback = Callable[[ProgressEvent], None] | None


class TrialContext:
    """What both phases share: data, tokenizer, device, callback, checkpoints, timings."""

    def __init__(self, cfg: TrialConfig, spec: TaskSpec, callback: Callback) -> None:
        self.cfg, self.spec, self.callback = cfg, spec, callback
        self.timings = Timings()
        self.device = pick_device(cfg.device)
        self.threads = set_threads(cfg.num_threads)
        self.checkpointer = Checkpointer(cfg.checkpoint_dir, cfg.checkpoint_every)
        self.cache = EncodeCache(cfg.cache_dir)
        with self.timings.measure("data"):
            splits = make_splits(load_task(spec.name, cfg.data_dir), spec, cfg.seed)
            self.splits: Splits = cap_splits(
                splits, cfg.seed, cfg.max_train_examples, cfg.max_eval_examples
            )
        self.tokenizer: Any = None
        self.seq2seq = False
        self._encoded: dict[str, tuple[list[Example], dict[str, torch.Tensor]]] = {}

    def load(self) -> torch.nn.Module:
        with self.timings.measure("model_load"):
            backbone, self.tokenizer = load_backbone(self.cfg.model)
        self.seq2seq = is_seq2seq(backbone.config)
        return backbone

    def encode(self, examples: list[Example], split: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of ``examples``, from the sweep's cache when it has them; a split
        is encoded once per trial (search and retrain share train and dev)."""
        memo = self._encoded.get(split)
        if memo is not None and memo[0] == examples:
            return memo[1]
        encoder = encode_for_t5 if self.seq2seq else encode_for_encoder
        with self.timings.measure("data"):
            encoded = self.cache.encode(
                lambda rows: encoder(self.spec, rows, self.tokenizer, self.cfg.max_length),
                examples,
                split=split,
                encoder_kind="t5" if self.seq2seq else "encoder",
                task=self.spec.name,
                max_length=self.cfg.max_length,
                tokenizer=self.tokenizer,
            )
        self._encoded[split] = (list(examples), encoded)
        return encoded

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
