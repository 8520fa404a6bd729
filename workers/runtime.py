"""Where a trial runs: device choice and CPU threads (set from the trial's CPU share)."""

from __future__ import annotations

import os
import random

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when visible and asked for (or auto), else CPU; a missing GPU is a clear error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={requested!r} but no CUDA GPU is visible; use device='auto' or 'cpu'"
        )
    return device


def set_threads(num_threads: int | None) -> int:
    """torch intra-op threads = the trial's CPU share (default: all CPUs this process may use)."""
    n = num_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
