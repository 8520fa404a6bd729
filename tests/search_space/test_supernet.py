"""The gated supernet and applied structures leave the frozen backbone intact."""

from __future__ import annotations

import torch

from search_space import (
    DeltaSet,
    DeltaSpec,
    GatedSupernet,
    apply_structure,
    backbone_params,
    find_candidates,
    manual_structure,
    parse_budget,
)


def _batch(tokenizer):
    enc = tokenizer(
        ["a quiet, moving film", "the plot is thin and the acting worse"],
        padding=True,
        return_tensors="pt",
    )
    return dict(enc)


def _out(model, batch):
    with torch.no_grad():
        return model(**batch).last_hidden_state


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def test_gates_at_zero_and_fresh_deltas_leave_backbone_unchanged(minilm):
    model, tok = minilm
    batch = _batch(tok)
    reference = _out(model, batch)
    weights_before = {k: v.clone() for k, v in model.state_dict().items()}
    cands = find_candidates(model, "M")
    net = GatedSupernet(model, cands, budget=parse_budget("0.01%").resolve(backbone_params(model)))
    try:
        net.eval()
        # deltas at init: every gate value gives the backbone's output
        assert torch.allclose(_out(model, batch), reference, atol=1e-6)
        _randomise(net.delta_set)
        net.remove()  # hooks off: z from the pre-hook no longer applies; re-attach with z = 0
        net = GatedSupernet(model, cands, budget=2271)
        _randomise(net.delta_set)
        net._handle.remove()
        net.slot.z = torch.zeros(len(cands))
        assert torch.allclose(_out(model, batch), reference, atol=1e-6)
    finally:
        net.remove()
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights_before[k]), f"backbone tensor {k} was modified"


def test_gates_at_one_equal_backbone_plus_all_deltas(minilm):
    model, tok = minilm
    batch = _batch(tok)
    cands = find_candidates(model, "M")
    net = GatedSupernet(model, cands, budget=2271)
    _randomise(net.delta_set, seed=1)
    net._handle.remove()
    net.slot.z = torch.ones(len(cands))
    gated = _out(model, batch)
    tensors = net.delta_set.named_tensors()
    net.remove()
    plain = DeltaSet(model, [DeltaSpec(c.site, c.kind, c.options) for c in cands])
    plain.load_named_tensors(tensors)
    try:
        ungated = _out(model, batch)
    finally:
        plain.detach_all()
    assert torch.allclose(gated, ungated, atol=1e-6)
    assert not torch.allclose(gated, _out(model, batch), atol=1e-3)  # the deltas do something


def test_supernet_expected_size_and_gradients(minilm):
    model, tok = minilm
    cands = find_candidates(model, "M")
    net = GatedSupernet(model, cands, budget=5000, seed=3)
    try:
        net.train()
        for p in model.parameters():
            p.requires_grad_(False)
        assert abs(net.expected_size() - 5000) < 5000 * 1e-6
        out = model(**_batch(tok)).last_hidden_state
        out.pow(2).mean().backward()
        assert net.gates.alpha.grad is not None
        assert all(p.grad is None for p in model.parameters())
        structure = net.discretize()
        assert sum(c.size for c in structure) <= 5000
    finally:
        net.remove()


def test_apply_structure_inserts_exactly_those_modules(tiny_bert_dir):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    structure = manual_structure("lora-qv-r8", model, "tiny")
    deltas = apply_structure(model, structure)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable == []  # backbone frozen
    assert deltas.num_params() == structure.total_size == 2 * 2 * 8 * (32 + 32)
    assert deltas.names == structure.names


def test_shared_sample_holds_one_gate_draw_across_passes(tiny_bert_dir):
    """Inside `shared_sample` every training forward sees the same u (so the same z for
    the same alpha); outside, each forward draws afresh. z stays a function of alpha."""
    from search_space import load_backbone

    model, tok = load_backbone(str(tiny_bert_dir))
    cands = find_candidates(model, "M")
    net = GatedSupernet(model, cands, budget=sum(c.size for c in cands) // 4, seed=0)
    net.train()
    batch = _batch(tok)
    seen = []

    def forward() -> torch.Tensor:
        model(**batch)
        assert net.slot.z is not None
        seen.append(net.slot.z.detach().clone())
        return net.slot.z

    with net.shared_sample():
        z = forward()
        forward()
        assert z.requires_grad  # still differentiable in alpha
    assert torch.equal(seen[0], seen[1])
    forward()
    forward()
    assert not torch.equal(seen[2], seen[3]) and not torch.equal(seen[1], seen[2])
    net.remove()
