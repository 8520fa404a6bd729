"""What one trial cost: CPU-seconds, GPU-seconds, device, peak memory, where the time went.

`CostMeter` is started when a trial starts and read when it ends. Why deltas and resets
rather than process totals: a Ray worker process runs many trials one after another, so
its lifetime CPU time and memory high-water mark belong to earlier trials too.

- ``cpu_s``: user + system CPU time of this process (all its threads) and of children
  it waited for, between start and end (`resource.getrusage`).
- ``gpu_s``: CUDA elapsed time between two events recorded on the trial's device at
  start and end, i.e. the device time the trial held; 0 on CPU.
- ``peak_rss_mb``: the process's resident-set high-water mark (``VmHWM``), reset at
  start through ``/proc/self/clear_refs`` where Linux allows it
  (``peak_rss_reset`` = 1); where it does not, the value is the process's lifetime peak.
- ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` since start (CUDA only).
- ``share_search``, ``share_retrain``, ``share_evaluation``: fractions of the trial's wall
  time in search steps, retrain steps and evaluation (`workers.timings`; they do not
  overlap, so they sum to at most 1).
- ``cpu_<bucket>_s``: CPU-seconds inside each timing bucket (`Timings.cpu_seconds`),
  e.g. ``cpu_search_steps_s``, what a search costs beyond retraining.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
SHARES = {"search": "search_steps", "retrain": "retrain_steps", "evaluation": "evaluation"}


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process and its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark to its current RSS; False if not allowed."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The process's resident-set high-water mark in MiB (VmHWM, else ru_maxrss)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class CostMeter:
    """Started when a trial starts; `use_device` once its device is known; `finish` returns
    the cost figures (see the module doc)."""

    def __init__(self) -> None:
        self.device = "cpu"
        self.started_wall = time.perf_counter()
        self.started_cpu = process_cpu_seconds()
        self.rss_reset = reset_peak_rss()
        self._cuda_start: Any = None

    def use_device(self, device: Any) -> None:
        """Start GPU timing and peak-memory tracking when ``device`` is a CUDA device."""
        import torch

        device = torch.device(device)
        self.device = str(device)
        if device.type != "cuda" or not torch.cuda.is_available() or self._cuda_start:
            return
        torch.cuda.reset_peak_memory_stats(device)
        self._cuda_device = device
        self._cuda_start = torch.cuda.Event(enable_timing=True)
        self._cuda_start.record(torch.cuda.current_stream(device))

    def finish(
        self,
        timings: dict[str, float] | None = None,
        cpu_buckets: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """The cost figures now (seconds, MiB, fractions); ``timings`` from `Timings.summary`,
        ``cpu_buckets`` from `Timings.cpu_seconds`."""
        wall = time.perf_counter() - self.started_wall
        cost: dict[str, float] = {
            "cpu_s": round(process_cpu_seconds() - self.started_cpu, 4),
            "gpu_s": 0.0,
            "peak_rss_mb": round(peak_rss_mb(), 2),
            "peak_rss_reset": 1.0 if self.rss_reset else 0.0,
            "wall_s": round(wall, 4),
        }
        if self._cuda_start is not None:
            import torch

            end = torch.cuda.Event(enable_timing=True)
            end.record(torch.cuda.current_stream(self._cuda_device))
            end.synchronize()
            cost["gpu_s"] = round(self._cuda_start.elapsed_time(end) / 1000.0, 4)
            peak = torch.cuda.max_memory_allocated(self._cuda_device)
            cost["peak_gpu_mb"] = round(peak / 2**20, 2)
        if timings:
            total = float(timings.get("wall") or wall) or 1.0
            for share, bucket in SHARES.items():
                cost[f"share_{share}"] = round(float(timings.get(bucket, 0.0)) / total, 4)
        for bucket, seconds in (cpu_buckets or {}).items():
            cost[f"cpu_{bucket}_s"] = round(seconds, 4)
        return cost
