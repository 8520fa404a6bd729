"""How decided the gates are at the end of a search (issue: do the gates decide anything?).

The greedy discretisation keeps a handful of candidates; if the keep-probabilities are
still spread thinly over the whole space, that choice is close to arbitrary. Three
numbers say how far the search got:

- ``share_p_gt_half``: the share of the expected budget (sum n_i p_i = B) held by
  candidates with p > 0.5. 1.0 means the budget sits on candidates the search has
  clearly kept; 0.0 means no candidate is even more likely in than out.
- ``entropy``: the entropy of the budget's spread q_i = n_i p_i / B over candidates,
  divided by log(N), so 0 = all budget on one candidate and 1 = spread evenly.
- ``top_p``: the largest keep-probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def gate_concentration(p: Sequence[float], sizes: Sequence[int]) -> dict[str, float]:
    """``share_p_gt_half``, ``entropy`` (normalised) and ``top_p`` of keep-probabilities."""
    if len(p) != len(sizes) or not p:
        raise ValueError(f"need one size per probability and at least one ({len(p)}, {len(sizes)})")
    mass = [float(n) * float(q) for n, q in zip(sizes, p, strict=True)]
    total = sum(mass)
    if total <= 0:
        return {"share_p_gt_half": 0.0, "entropy": 1.0, "top_p": max(map(float, p))}
    share = sum(m for m, q in zip(mass, p, strict=True) if q > 0.5) / total
    spread = [m / total for m in mass if m > 0]
    entropy = -sum(q * math.log(q) for q in spread)
    normalised = entropy / math.log(len(p)) if len(p) > 1 else 0.0
    return {"share_p_gt_half": share, "entropy": normalised, "top_p": max(map(float, p))}
