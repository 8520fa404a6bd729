"""One search, every budget: the structure a search's logits give at another budget.

With the shifted global sigmoid p_i = sigmoid((alpha_i - b) / beta), the logits alpha do
not depend on the budget: only the shift b holds sum n_i p_i = B. So the logits of one
search give a structure at any budget B': solve b at B' and discretise greedily under B',
exactly as the search's own discretisation does at its budget (`GatedSupernet.discretize`
builds the same gates and calls the same `greedy_select`, so at the search's budget this
returns the search's structure, and at B' the structure a search at B' would have chosen
had it ended with the same logits).

Greedy keeps the candidates in order of p, and p is monotone in alpha, so the order is
alpha's except where float32 p saturates to a tie (then candidate order breaks the tie,
as in the search); computing p through the same gates keeps even those ties identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from search_space.discretize import greedy_select
from search_space.gates import GlobalSigmoidGates
from search_space.positions import Candidate


class LogitsMismatchError(ValueError):
    """Logits that do not name the candidates they are applied to."""


def probabilities_at(
    candidates: Sequence[Candidate],
    logits: Sequence[float],
    budget: int,
    beta: float = 1.0,
    rescale: bool = True,
) -> list[float]:
    """p of ``candidates`` with the shift re-solved at ``budget`` (the search's own gates)."""
    if len(logits) != len(candidates):
        raise LogitsMismatchError(
            f"{len(logits)} logits for {len(candidates)} candidates; give one per candidate"
        )
    gates = GlobalSigmoidGates([c.size for c in candidates], budget, beta, rescale)
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor(list(logits), dtype=gates.alpha.dtype))
        return [float(v) for v in gates.probabilities().tolist()]


def select_at_budget(
    candidates: Sequence[Candidate],
    logits: Mapping[str, float],
    budget: int,
    *,
    beta: float = 1.0,
    rescale: bool = True,
    fittable_only: bool = False,
) -> list[Candidate]:
    """The greedy structure at ``budget`` from a search's logits (candidate name -> alpha).

    ``candidates``: the space's candidates in their usual order; those without a logit
    were not in the search (e.g. left out by ``search_fittable_only`` at the search's
    budget) and are not offered. ``fittable_only``: as the search setting, leave out
    candidates larger than ``budget`` before solving the shift, as a search at ``budget``
    with that setting would have."""
    searched = [c for c in candidates if c.name in logits]
    if not searched:
        raise LogitsMismatchError(
            "no candidate of this space has a logit; give the logits of a search on the same "
            "backbone and space"
        )
    if fittable_only:
        searched = [c for c in searched if c.size <= budget]
        if not searched:
            return []
    p = probabilities_at(searched, [logits[c.name] for c in searched], budget, beta, rescale)
    return greedy_select(searched, p, budget)


def structures_at_budgets(
    candidates: Sequence[Candidate],
    logits: Mapping[str, float],
    budgets: Iterable[int],
    *,
    beta: float = 1.0,
    rescale: bool = True,
    fittable_only: bool = False,
) -> dict[int, list[Candidate]]:
    """`select_at_budget` at each of ``budgets`` (parameter counts)."""
    return {
        int(budget): select_at_budget(
            candidates,
            logits,
            int(budget),
            beta=beta,
            rescale=rescale,
            fittable_only=fittable_only,
        )
        for budget in budgets
    }
