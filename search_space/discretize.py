"""From gate probabilities to a structure (greedy), and random structures (baseline).

Both never exceed the budget: a candidate is taken only if it still fits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from search_space.positions import Candidate


def greedy_select(
    candidates: Sequence[Candidate], p: Sequence[float], budget: int
) -> list[Candidate]:
    """Sort by p descending (ties by candidate order); take each one that still fits."""
    order = sorted(range(len(candidates)), key=lambda i: (-float(p[i]), i))
    chosen: list[int] = []
    used = 0
    for i in order:
        if used + candidates[i].size <= budget:
            chosen.append(i)
            used += candidates[i].size
    return [candidates[i] for i in sorted(chosen)]


def random_select(candidates: Sequence[Candidate], budget: int, seed: int) -> list[Candidate]:
    """Draw uniformly among the candidates that still fit, until none fits (seeded)."""
    rng = random.Random(seed)
    remaining = list(range(len(candidates)))
    chosen: list[int] = []
    used = 0
    while True:
        fitting = [i for i in remaining if used + candidates[i].size <= budget]
        if not fitting:
            break
        i = rng.choice(fitting)
        chosen.append(i)
        used += candidates[i].size
        remaining.remove(i)
    return [candidates[i] for i in sorted(chosen)]
