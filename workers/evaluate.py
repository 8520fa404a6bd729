"""Scoring a model on a split with the task's official metrics, at the cost of one forward pass.

- One pass: the loss and the predictions come from the same logits (`TaskModel.loss_and_predict`).
- Length-sorted batches: examples are visited shortest first, so each batch is trimmed to
  rows of similar length and pads little; predictions are put back in the split's order
  before the metrics. Padding is masked, so a row's logits do not depend on its batch
  (up to floating-point rounding).
- ``subset``: score only these row indices (the search phase may select on a dev subset).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workers.data import (
    Example,
    batches,
    compute_metrics,
    decode_t5_predictions,
    length_order,
    primary_score,
)
from workers.task_model import TaskModel


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def predict_all(
    model: TaskModel,
    encoded: dict[str, torch.Tensor],
    batch_size: int,
    device: torch.device,
    tokenizer: Any = None,
) -> tuple[list[Any], float]:
    """Predictions in the rows' own order and the summed loss, over length-sorted batches."""
    model.eval()
    count = len(encoded["example_index"])
    predictions: list[Any] = [None] * count
    loss_sum = 0.0
    for batch in batches(encoded, batch_size, order=length_order(encoded)):
        rows = batch["example_index"].tolist()
        loss, preds = model.loss_and_predict(to_device(batch, device), tokenizer)
        loss_sum += float(loss) * len(rows)
        for row, pred in zip(rows, preds, strict=True):
            predictions[row] = pred
    return predictions, loss_sum


def evaluate(
    model: TaskModel,
    encoded: dict[str, torch.Tensor],
    examples: Sequence[Example],
    batch_size: int,
    device: torch.device,
    tokenizer: Any = None,
) -> tuple[dict[str, float], float, float]:
    """(metrics, primary score, mean loss) on ``examples``; the model is left in eval mode.

    ``encoded["example_index"]`` must number the rows 0..n-1 in the order of ``examples``.
    """
    predictions, loss_sum = predict_all(model, encoded, batch_size, device, tokenizer)
    spec = model.spec
    if model.seq2seq:
        predictions = list(decode_t5_predictions(spec, predictions))
    labels = [e.label for e in examples]
    groups = [e.group for e in examples] if spec.kind == "multirc" else None
    metrics = compute_metrics(spec, predictions, labels, groups)  # type: ignore[arg-type]
    return metrics, primary_score(spec, metrics), loss_sum / max(len(examples), 1)
