"""The two cheap baselines of issue 20 as pure functions: the uniform layout's rule and the
random mask's draw (count, seeding, pool, identity)."""

from __future__ import annotations

import pytest
import torch

from search_space import find_candidates
from search_space.random_mask import (
    apply_mask_tensors,
    changed_count,
    draw_mask,
    mask_pool,
    mask_tensors,
    train_masked,
)
from search_space.uniform import spread, uniform_select


def test_spread_is_even_and_fixed():
    assert spread(5, 6) == [0, 1, 3, 4, 5]
    assert spread(1, 6) == [3]
    assert spread(6, 6) == list(range(6))
    assert spread(2, 12) == [3, 9]
    with pytest.raises(ValueError):
        spread(7, 6)


def test_uniform_on_minilm_matches_the_documented_layouts(minilm):
    minilm = minilm[0]
    cands = find_candidates(minilm, "M")
    at_001 = uniform_select(cands, 2271)  # 0.01% of MiniLM
    assert [c.name for c in at_001] == [
        f"encoder.layer.{i}.attention.self.query:bitfit" for i in (0, 1, 3, 4, 5)
    ]
    assert [c.name for c in uniform_select(cands, 454)] == [
        "encoder.layer.3.attention.self.query:bitfit"
    ]


def test_uniform_fills_leftover_budget_and_never_exceeds_it(minilm):
    minilm = minilm[0]
    cands = find_candidates(minilm, "M")
    for budget in (384, 1000, 5000, 11356, 22713, 60000):
        chosen = uniform_select(cands, budget)
        used = sum(c.size for c in chosen)
        assert 0 < used <= budget
        names = [c.name for c in chosen]
        assert len(set(names)) == len(names)
        # nothing left out still fits: the leftover is smaller than every unchosen per-layer candidate
        left = [c for c in cands if c.name not in set(names) and c.site.layer >= 0]
        assert all(c.size > budget - used for c in left), budget
    # a group is spread over layers: at 11,356 every layer holds an FFN-in bias
    layers = {c.site.layer for c in uniform_select(cands, 11356) if c.site.role == "ffn_in"}
    assert layers == set(range(6))


def test_uniform_spreads_over_both_stacks_of_t5(tiny_t5_dir):
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir)
    cands = find_candidates(model, "M")
    smallest = min(c.size for c in cands if c.site.layer >= 0)
    chosen = uniform_select(cands, 3 * smallest)
    assert len(chosen) >= 1
    assert sum(c.size for c in chosen) <= 3 * smallest


def test_random_mask_is_exact_seeded_and_skips_embeddings(minilm):
    minilm = minilm[0]
    a, b, c = draw_mask(minilm, 2271, 1), draw_mask(minilm, 2271, 1), draw_mask(minilm, 2271, 2)
    assert a.count == 2271 and a == b and a.digest == b.digest
    assert a.digest != c.digest
    for flat in a.indices.values():
        assert flat == sorted(set(flat))
    pool = dict(mask_pool(minilm))
    assert not any("embeddings.word_embeddings" in n for n in pool)
    assert set(a.indices) <= set(pool)
    assert a.pool_size == sum(p.numel() for p in pool.values())
    for name, flat in a.indices.items():
        assert min(flat) >= 0 and max(flat) < pool[name].numel()


def test_masked_training_moves_only_the_mask(tiny_bert_dir):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    mask = draw_mask(model, 50, 7)
    params = train_masked(model, mask)
    opt = torch.optim.AdamW(params, lr=1e-1, weight_decay=0.0)
    for _ in range(3):
        out = model(input_ids=torch.randint(0, 100, (2, 8))).last_hidden_state
        out.pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    changed = 0
    for name, p in model.named_parameters():
        diff = (p.detach() != before[name]).reshape(-1)
        allowed = torch.zeros_like(diff)
        allowed[mask.indices.get(name, [])] = True
        assert not (diff & ~allowed).any(), f"{name}: an element outside the mask moved"
        changed += int(diff.sum())
    assert changed > 0.8 * mask.count  # (an element with zero gradient may stay put)
    # the mask's tensors re-create the trained backbone from a pretrained one
    fresh = AutoModel.from_pretrained(tiny_bert_dir)
    apply_mask_tensors(fresh, mask_tensors(model, mask))
    for (n, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        assert torch.equal(p.detach(), q.detach()), n
    assert changed_count(fresh, AutoModel.from_pretrained(tiny_bert_dir)) == changed
