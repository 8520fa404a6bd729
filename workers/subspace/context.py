"""What every stage of a subspace experiment shares: data, tokenizer, device, scoring.

Reuses the trial's pieces: the task protocol and caps (workers.data), the encode cache,
`evaluate` with the official metrics, and `Timings`.
"""

from __future__ import annotations

import torch

from workers.data import Example, TaskSpec, cap_examples
from workers.evaluate import evaluate
from workers.loaded_task import Callback, LoadedTask
from workers.subspace.types import SubspaceConfig
from workers.task_model import TaskModel
from workers.timings import Timings
from workers.trial_types import ProgressEvent

Scores = tuple[dict[str, float], float, float]  # metrics, primary score, mean loss


class SubspaceTimings(Timings):
    """A trial's buckets with the three stages in place of search and retrain."""

    BUCKETS = ("model_load", "data", "stage0_steps", "stage1_steps", "stage2_steps")

    def __init__(self) -> None:
        super().__init__()
        names = (*self.BUCKETS, "evaluation", "checkpoints")
        self.seconds = dict.fromkeys(names, 0.0)
        self.cpu_seconds = dict.fromkeys(names, 0.0)


class SubspaceContext(LoadedTask):
    """Loaded splits and the means to encode and score them."""

    def __init__(self, cfg: SubspaceConfig, spec: TaskSpec, callback: Callback = None) -> None:
        super().__init__(cfg, spec, callback, SubspaceTimings())
        self.cfg = cfg
        self.grid_dev = cap_examples(self.splits.dev, cfg.grid_eval_examples, cfg.seed)

    def split(self, name: str) -> list[Example]:
        """train, dev, test, or grid-dev (the seeded dev subset the landscape is scored on)."""
        if name == "grid-dev":
            return self.grid_dev
        return list(getattr(self.splits, name))

    def encode(self, name: str) -> dict[str, torch.Tensor]:
        """Encoded tensors of split ``name``, encoded once per experiment."""
        return self.encode_examples(self.split(name), name)

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
