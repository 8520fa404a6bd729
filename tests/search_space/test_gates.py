"""The shifted global sigmoid holds the expected size at the budget; discretisation fits."""

from __future__ import annotations

import pytest
import torch

from search_space import GlobalSigmoidGates, greedy_select, random_select, solve_shift
from search_space.deltas import Site
from search_space.positions import Candidate


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fraction", [0.00001, 0.0001, 0.001, 0.01, 0.1, 0.5])
def test_shift_solver_hits_budget(seed, fraction):
    g = torch.Generator().manual_seed(seed)
    n = 200 + seed * 100
    alpha = torch.randn(n, generator=g, dtype=torch.float64) * (1 + seed)
    sizes = torch.randint(1, 5000, (n,), generator=g).double()
    backbone = 22_713_216
    budget = max(fraction / 100 * backbone * 100, 1.0)  # fraction of the backbone in %
    budget = min(budget, float(sizes.sum()) * 0.9)
    b = solve_shift(alpha, sizes, budget)
    expected = float((sizes * torch.sigmoid(alpha - b)).sum())
    assert abs(expected - budget) <= 1e-6 * budget


def test_gate_module_expected_size_and_beta():
    sizes = [768, 384, 1920, 1188, 384]
    gates = GlobalSigmoidGates(sizes, budget=1000, beta=0.5)
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor([2.0, -1.0, 0.5, 0.0, 3.0]))
    assert gates.expected_size() == pytest.approx(1000, rel=1e-6)
    p = gates.probabilities()
    assert torch.all((p > 0) & (p < 1))


def test_whole_space_within_budget_gives_p_one():
    gates = GlobalSigmoidGates([10, 20], budget=100)
    assert torch.equal(gates.probabilities(), torch.ones(2))


def test_rescale_keeps_values_but_couples_gradients():
    sizes = [100, 200, 300]
    a = GlobalSigmoidGates(sizes, 250, rescale=True)
    b = GlobalSigmoidGates(sizes, 250, rescale=False)
    with torch.no_grad():
        for g in (a, b):
            g.alpha.copy_(torch.tensor([0.3, -0.2, 0.1]))
    assert torch.allclose(a.probabilities(), b.probabilities())
    a.probabilities()[0].backward()
    b.probabilities()[0].backward()
    assert a.alpha.grad[1] != 0 and b.alpha.grad[1] == 0


def test_gradient_projection_is_orthogonal_to_constraint():
    sizes = [100.0, 200.0, 300.0, 50.0]
    gates = GlobalSigmoidGates(sizes, 260, gradient_projection=True)
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor([0.3, -0.2, 0.1, 1.0]))
    p = gates.probabilities()
    (p * torch.tensor([1.0, 2.0, -1.0, 0.5])).sum().backward()
    pd = torch.sigmoid(gates.alpha.detach() - gates.last_shift)
    normal = torch.tensor(sizes) * pd * (1 - pd)
    assert abs(float(gates.alpha.grad.dot(normal))) < 1e-4 * float(normal.norm())


def test_relaxed_bernoulli_sampling_is_seeded_and_in_unit_interval():
    gates = GlobalSigmoidGates([1, 1, 1, 1], 2)
    p = gates.probabilities()
    z1 = gates.sample(p, torch.Generator().manual_seed(3))
    z2 = gates.sample(p, torch.Generator().manual_seed(3))
    assert torch.equal(z1, z2) and torch.all((z1 > 0) & (z1 < 1))


def _cands(sizes):
    return [
        Candidate(Site(f"m{i}", "linear", "q", i, "encoder", 1, 1), "lora", s)
        for i, s in enumerate(sizes)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_greedy_and_random_never_exceed_budget(seed):
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 3000, (60,), generator=g).tolist()
    budget = int(torch.randint(1, 40000, (1,), generator=g))
    p = torch.rand(60, generator=g).tolist()
    greedy = greedy_select(_cands(sizes), p, budget)
    rand = random_select(_cands(sizes), budget, seed)
    assert sum(c.size for c in greedy) <= budget
    assert sum(c.size for c in rand) <= budget
    # nothing left that still fits
    for chosen in (greedy, rand):
        left = budget - sum(c.size for c in chosen)
        names = {c.name for c in chosen}
        assert all(c.size > left for c in _cands(sizes) if c.name not in names)


def test_greedy_takes_highest_p_first_and_skips_misfits():
    chosen = greedy_select(_cands([50, 80, 30, 20]), [0.9, 0.8, 0.7, 0.1], 100)
    assert [c.name for c in chosen] == ["m0:lora", "m2:lora", "m3:lora"]


def test_random_is_seeded():
    a = random_select(_cands(list(range(1, 50))), 300, seed=7)
    b = random_select(_cands(list(range(1, 50))), 300, seed=7)
    c = random_select(_cands(list(range(1, 50))), 300, seed=8)
    assert a == b and a != c
