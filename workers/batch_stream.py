"""An endless, resumable stream of training batches whose order depends only on the seed.

Batch ``step`` is batch ``step % n`` of epoch ``step // n``, each epoch shuffled with
``seed * 100_003 + epoch``: a run resumed at step s sees exactly the batches an unbroken
run would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from workers.data import batches


class BatchStream:
    def __init__(self, encoded: dict[str, torch.Tensor], batch_size: int, seed: int) -> None:
        self.encoded, self.batch_size, self.seed = encoded, batch_size, seed
        count = len(next(iter(encoded.values())))
        self.per_epoch = max(1, -(-count // batch_size))
        self._epoch = -1
        self._iter: Iterator[dict[str, torch.Tensor]] | None = None
        self._pos = 0

    def batch_at(self, step: int) -> dict[str, torch.Tensor]:
        """The batch for 0-based ``step``; sequential calls are O(1) each."""
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch or self._iter is None or index < self._pos:
            self._epoch, self._pos = epoch, 0
            self._iter = batches(self.encoded, self.batch_size, seed=self.seed * 100_003 + epoch)
        while self._pos < index:
            next(self._iter)
            self._pos += 1
        self._pos += 1
        return next(self._iter)
