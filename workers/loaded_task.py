"""A task's splits, the backbone's tokenizer and their encodings, loaded once for a run.

What a trial (`workers.trial_context.TrialContext`) and a subspace experiment
(`workers.subspace.context.SubspaceContext`) both need before training: the device and
threads, the task's protocol splits with their caps, the backbone load, and each split
encoded once (from the sweep's encode cache when it has it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from search_space import load_backbone
from search_space.backbone import is_seq2seq
from workers.data import (
    Example,
    Splits,
    TaskSpec,
    cap_splits,
    encode_for_encoder,
    encode_for_t5,
    load_task,
    make_splits,
)
from workers.data.encode_cache import EncodeCache
from workers.runtime import pick_device, set_threads
from workers.timings import Timings
from workers.trial_types import ProgressEvent

Callback = Callable[[ProgressEvent], None] | None


class DataSettings(Protocol):
    """The config fields loading needs (`TrialConfig` and `SubspaceConfig` both have them)."""

    model: str
    device: str
    num_threads: int | None
    cache_dir: str | None
    data_dir: str | None
    seed: int
    max_train_examples: int | None
    max_eval_examples: int | None
    max_length: int


class LoadedTask:
    """Splits loaded at construction; the backbone by `load`; encodings by `encode_examples`."""

    def __init__(
        self, cfg: DataSettings, spec: TaskSpec, callback: Callback, timings: Timings
    ) -> None:
        self.spec, self.callback, self.timings = spec, callback, timings
        self.device = pick_device(cfg.device)
        self.threads = set_threads(cfg.num_threads)
        self.cache = EncodeCache(cfg.cache_dir)
        self._settings = cfg
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
            backbone, self.tokenizer = load_backbone(self._settings.model)
        self.seq2seq = is_seq2seq(backbone.config)
        return backbone

    def encode_examples(self, examples: list[Example], split: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of ``examples``, once per run for each split name, from the
        sweep's cache when it has them."""
        memo = self._encoded.get(split)
        if memo is not None and memo[0] == examples:
            return memo[1]
        encoder = encode_for_t5 if self.seq2seq else encode_for_encoder
        max_length = self._settings.max_length
        with self.timings.measure("data"):
            encoded = self.cache.encode(
                lambda rows: encoder(self.spec, rows, self.tokenizer, max_length),
                examples,
                split=split,
                encoder_kind="t5" if self.seq2seq else "encoder",
                task=self.spec.name,
                max_length=max_length,
                tokenizer=self.tokenizer,
            )
        self._encoded[split] = (list(examples), encoded)
        return encoded
