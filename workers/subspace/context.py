"""What every stage of a subspace experiment shares: data, tokenizer, device, scoring.

Reuses the trial's pieces: the task protocol and caps (workers.data), the encode cache,
`evaluate` with the official metrics, and `Timings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from search_space import load_backbone
from search_space.backbone import is_seq2seq
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
from workers.runtime import pick_device, set_threads
from workers.subspace.types import SubspaceConfig
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import ProgressEvent

Callback = Callable[[ProgressEvent], None] | None
Scores = tuple[dict[str, float], float, float]  # metrics, primary score, mean loss


class SubspaceTimings(Timings):
    """A trial's buckets with the three stages in place of search and retrain."""

    BUCKETS = ("model_load", "data", "stage0_steps", "stage1_steps", "stage2_steps")

    def __init__(self) -> None:
        super().__init__()
        names = (*self.BUCKETS, "evaluation", "checkpoints")
        self.seconds = dict.fromkeys(names, 0.0)
        self.cpu_seconds = dict.fromkeys(names, 0.0)


class SubspaceContext:
    """Loaded splits and the means to encode and score them."""

    def __init__(self, cfg: SubspaceConfig, spec: TaskSpec, callback: Callback = None) -> None:
        self.cfg, self.spec, self.callback = cfg, spec, callback
        self.timings = SubspaceTimings()
        self.device = pick_device(cfg.device)
        self.threads = set_threads(cfg.num_threads)
        self.cache = EncodeCache(cfg.cache_dir)
        with self.timings.measure("data"):
            splits = make_splits(load_task(spec.name, cfg.data_dir), spec, cfg.seed)
            self.splits: Splits = cap_splits(
                splits, cfg.seed, cfg.max_train_examples, cfg.max_eval_examples
            )
        self.grid_dev = cap_examples(self.splits.dev, cfg.grid_eval_examples, cfg.seed)
        self.tokenizer: Any = None
        self.seq2seq = False
        self._encoded: dict[str, dict[str, torch.Tensor]] = {}

    def load(self) -> torch.nn.Module:
        with self.timings.measure("model_load"):
            backbone, self.tokenizer = load_backbone(self.cfg.model)
        self.seq2seq = is_seq2seq(backbone.config)
        return backbone

    def split(self, name: str) -> list[Example]:
        """train, dev, test, or grid-dev (the seeded dev subset the landscape is scored on)."""
        if name == "grid-dev":
            return self.grid_dev
        return list(getattr(self.splits, name))

    def encode(self, name: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of split ``name``, encoded once per experiment."""
        if name not in self._encoded:
            examples = self.split(name)
            encoder = encode_for_t5 if self.seq2seq else encode_for_encoder
            with self.timings.measure("data"):
                self._encoded[name] = self.cache.encode(
                    lambda rows: encoder(self.spec, rows, self.tokenizer, self.cfg.max_length),
                    examples,
                    split=name,
                    encoder_kind="t5" if self.seq2seq else "encoder",
                    task=self.spec.name,
                    max_length=self.cfg.max_length,
                    tokenizer=self.tokenizer,
                )
        return self._encoded[name]

    def score(self, model: TaskModel, name: str) -> Scores:
        """Official metrics, primary score and loss of ``model`` on split ``name``."""
        encoded = self.encode(name)
        with self.timings.measure("evaluation"):
            return evaluate(
                model,
                encoded,
                self.split(name),
                self.cfg.eval_batch_size,
                self.device,
                self.tokenizer,
            )

    def report(self, phase: str, step: int, total: int, **metrics: float) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(phase, step, total, dict(metrics)))
