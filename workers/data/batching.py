"""Deterministic mini-batches over encoded tensors.

The order is a function of the seed alone (`torch.Generator().manual_seed(seed)`), so
a trial with the same seed sees the same batches; pass `seed + epoch` for a new order
per epoch and `seed=None` for the stored order (evaluation). Each batch is trimmed to
its longest input, which saves most of the padding cost on CPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch

SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def batches(
    encoded: Mapping[str, torch.Tensor],
    batch_size: int,
    seed: int | None = None,
    order: torch.Tensor | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Yield dicts of tensor slices of at most `batch_size` rows (the last may be smaller).

    ``order`` (a permutation of the rows) overrides ``seed``: evaluation passes the
    length-sorted order so that each batch pads little.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size} must be positive, e.g. 32")
    sizes = {key: len(value) for key, value in encoded.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"encoded tensors disagree on the number of examples: {sizes}")
    count = next(iter(sizes.values()))
    if order is not None:
        if len(order) != count:
            raise ValueError(f"order has {len(order)} rows for {count} examples")
    elif seed is None:
        order = torch.arange(count)
    else:
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    for start in range(0, count, batch_size):
        rows = order[start : start + batch_size]
        yield _trim({key: value[rows] for key, value in encoded.items()})


def select_rows(encoded: Mapping[str, torch.Tensor], rows: list[int]) -> dict[str, torch.Tensor]:
    """These rows of an encoding, renumbered 0..n-1: the same batches as encoding just those
    examples (``batches`` trims every batch to its own longest row)."""
    index = torch.tensor(rows, dtype=torch.long)
    out = {key: value[index] for key, value in encoded.items()}
    out["example_index"] = torch.arange(len(rows))
    return out


def length_order(encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Row indices sorted by input length (stable; longest alternative for COPA-style rows)."""
    mask = encoded.get("attention_mask")
    count = len(next(iter(encoded.values())))
    if mask is None:
        return torch.arange(count)
    lengths = mask.reshape(count, -1, mask.shape[-1]).sum(-1).amax(-1)
    return torch.argsort(lengths, stable=True)


def _trim(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut trailing columns that are padding in every row of this batch."""
    mask = batch.get("attention_mask")
    if mask is not None and mask.numel():
        used = int(mask.reshape(-1, mask.shape[-1]).any(dim=0).nonzero().max()) + 1
        for key in SEQUENCE_KEYS:
            if key in batch:
                batch[key] = batch[key][..., :used]
    labels = batch.get("labels")
    if labels is not None and labels.dim() == 2 and labels.dtype == torch.long:
        kept = (labels != -100).any(dim=0).nonzero()
        if kept.numel():
            batch["labels"] = labels[:, : int(kept.max()) + 1]
    return batch
