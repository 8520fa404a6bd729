"""One search, every budget (search_space/rebudget.py): the shift re-solved at each budget."""

from __future__ import annotations

import pytest
import torch

from search_space import GatedSupernet, backbone_params, find_candidates, parse_budget
from search_space.rebudget import (
    LogitsMismatchError,
    probabilities_at,
    select_at_budget,
    structures_at_budgets,
)

BUDGETS = ("0.002%", "0.005%", "0.01%", "0.05%", "0.1%")


def _logits(n: int, seed: int, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * scale


@pytest.mark.parametrize(("seed", "scale"), [(0, 0.3), (1, 3.0), (2, 40.0)])
def test_every_budget_is_kept_and_matches_a_search_at_that_budget(minilm, seed, scale):
    """scale 40 saturates float32 p to exact ties, where candidate order decides."""
    model, _ = minilm
    cands = find_candidates(model, "M")
    n = backbone_params(model)
    budgets = [parse_budget(b).resolve(n, min(c.size for c in cands)) for b in BUDGETS]
    alpha = _logits(len(cands), seed, scale)
    logits = {c.name: float(a) for c, a in zip(cands, alpha.tolist(), strict=True)}
    found = structures_at_budgets(cands, logits, budgets, beta=1.0)
    for budget in budgets:
        chosen = found[budget]
        assert chosen and sum(c.size for c in chosen) <= budget
        # nothing left out that would still fit: greedy fills the budget
        left = [c for c in cands if c not in chosen]
        assert all(sum(c.size for c in chosen) + c.size > budget for c in left) or not left
        # a search at this budget that ended with the same logits chooses the same structure
        net = GatedSupernet(model, cands, budget)
        try:
            with torch.no_grad():
                net.gates.alpha.copy_(alpha)
            assert [c.name for c in net.discretize()] == [c.name for c in chosen]
        finally:
            net.remove()
    sizes = [sum(c.size for c in found[b]) for b in budgets]
    assert sizes == sorted(sizes)  # a larger budget never holds less


def test_the_shift_holds_the_expected_size_at_each_budget(minilm):
    model, _ = minilm
    cands = find_candidates(model, "M")
    alpha = _logits(len(cands), 5, 2.0).tolist()
    sizes = torch.tensor([c.size for c in cands], dtype=torch.float64)
    total = int(sizes.sum())
    for budget in (total // 30, total // 3, 2 * total // 3):
        p = torch.tensor(probabilities_at(cands, alpha, budget), dtype=torch.float64)
        assert float((p * sizes).sum()) == pytest.approx(budget, rel=1e-5)
    assert probabilities_at(cands, alpha, total) == [1.0] * len(cands)  # everything fits


def test_fittable_only_and_candidates_the_search_never_saw(minilm):
    model, _ = minilm
    cands = find_candidates(model, "M")
    budget = 1_500
    fitting = [c for c in cands if c.size <= budget]
    assert len(fitting) < len(cands)
    # a search with search_fittable_only at 1500 only had logits for the fitting ones
    logits = {c.name: float(i % 7) for i, c in enumerate(fitting)}
    net = GatedSupernet(model, fitting, budget)
    try:
        with torch.no_grad():
            net.gates.alpha.copy_(torch.tensor([logits[c.name] for c in fitting]))
        expected = [c.name for c in net.discretize()]
    finally:
        net.remove()
    chosen = select_at_budget(cands, logits, budget, fittable_only=True)
    assert [c.name for c in chosen] == expected
    assert all(c.name in logits for c in select_at_budget(cands, logits, 50_000))
    with pytest.raises(LogitsMismatchError, match="no candidate"):
        select_at_budget(cands, {"nope": 1.0}, budget)
