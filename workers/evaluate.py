"""Scoring a model on a split with the task's official metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workers.data import Example, batches, compute_metrics, decode_t5_predictions, primary_score
from workers.task_model import TaskModel


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(
    model: TaskModel,
    encoded: dict[str, torch.Tensor],
    examples: Sequence[Example],
    batch_size: int,
    device: torch.device,
    tokenizer: Any = None,
) -> tuple[dict[str, float], float, float]:
    """(metrics, primary score, mean loss) on ``examples``; the model is left in eval mode."""
    model.eval()
    predictions: list[Any] = []
    losses: list[float] = []
    for batch in batches(encoded, batch_size, seed=None):
        batch = to_device(batch, device)
        losses.append(float(model.loss(batch)) * len(batch["example_index"]))
        predictions.extend(model.predict(batch, tokenizer))
    spec = model.spec
    if model.seq2seq:
        predictions = list(decode_t5_predictions(spec, predictions))
    labels = [e.label for e in examples]
    groups = [e.group for e in examples] if spec.kind == "multirc" else None
    metrics = compute_metrics(spec, predictions, labels, groups)  # type: ignore[arg-type]
    return metrics, primary_score(spec, metrics), sum(losses) / max(len(examples), 1)
