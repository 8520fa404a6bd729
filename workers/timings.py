"""Where a trial's wall time goes: model load, data, search, retrain, evaluation, checkpoints.

Every trial records the same six buckets (seconds), so a slow trial can be explained
from its MLflow run alone. Evaluation and checkpoint time spent inside a phase are
taken out of that phase's step time: the buckets do not overlap, and with `other`
(artifacts, bookkeeping) they add up to the trial's wall time. The same buckets also
hold the process CPU seconds spent in them (`cpu_seconds`, every thread of the process),
which `workers.cost` reports as what each part of the trial cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

BUCKETS: tuple[str, ...] = (
    "model_load",
    "data",
    "search_steps",
    "retrain_steps",
    "evaluation",
    "checkpoints",
)


class Timings:
    """Accumulates wall seconds per bucket; nested measures are subtracted from the outer."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(BUCKETS, 0.0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(BUCKETS, 0.0)
        # per open measure: [start, time taken by inner, cpu start, cpu taken by inner]
        self._stack: list[list[float]] = []

    @contextmanager
    def measure(self, bucket: str) -> Iterator[None]:
        if bucket not in self.seconds:
            raise KeyError(f"unknown timing bucket {bucket!r}; use one of {', '.join(BUCKETS)}")
        frame = [time.perf_counter(), 0.0, time.process_time(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            total = time.perf_counter() - frame[0]
            cpu = time.process_time() - frame[2]
            self.seconds[bucket] += total - frame[1]
            self.cpu_seconds[bucket] += cpu - frame[3]
            if self._stack:
                self._stack[-1][1] += total
                self._stack[-1][3] += cpu

    def summary(self, wall: float) -> dict[str, float]:
        """The buckets plus `other` (the rest of ``wall``) and `wall`."""
        out = {k: round(v, 4) for k, v in self.seconds.items()}
        out["other"] = round(max(0.0, wall - sum(self.seconds.values())), 4)
        out["wall"] = round(wall, 4)
        return out
