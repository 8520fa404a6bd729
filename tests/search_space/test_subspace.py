"""The subspace module: DET sizes, theta layouts, codecs, convex mixing, the landscape
plane, and the prefix delta inside BERT attention."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from search_space.deltas import GateSlot
from search_space.deltas.prefix import PrefixDelta
from search_space.subspace import (
    DetModule,
    FlatLayout,
    SizeMatchError,
    SubspaceCodec,
    convex_weights,
    grid_on,
    match_sizes,
    mix,
    plane_through,
)
from tests.conftest import MINILM
from workers.subspace.setup import model_skeleton

DETS = ["adapter", "lora", "prefix"]


def test_minilm_dets_match_within_one_percent_with_exact_sizes() -> None:
    """Widths, ranks and prefix lengths chosen for 69,120 on MiniLM (384 wide, 6 layers)."""
    choices = match_sizes(model_skeleton(MINILM), DETS, 69_120)
    got = {c.name: (c.knob, c.value, c.size) for c in choices}
    # adapter: 12 blocks x (2*384*7 + 7 + 384); LoRA: 18 projections x 5 x 768;
    # prefix: 6 attentions x 2 x 15 x 384
    assert got == {
        "adapter": ("width", 7, 12 * (2 * 384 * 7 + 7 + 384)),
        "lora": ("rank", 5, 18 * 5 * 768),
        "prefix": ("tokens", 15, 6 * 2 * 15 * 384),
    }
    sizes = [c.size for c in choices]
    assert (max(sizes) - min(sizes)) / min(sizes) <= 0.01


def test_installed_dets_have_exactly_their_matched_sizes(tiny_bert_dir) -> None:
    model = AutoModel.from_pretrained(tiny_bert_dir)
    for choice in match_sizes(model, DETS, 5_328):
        module = DetModule(model, choice)
        assert module.num_params() == choice.size
        module.detach_all()


def test_a_target_no_det_set_can_match_is_refused_naming_the_field_and_the_fix() -> None:
    with pytest.raises(SizeMatchError) as info:
        match_sizes(model_skeleton(MINILM), DETS, 50_000)
    message = str(info.value)
    assert message.startswith("target_size: 50,000 cannot be matched within 1%")
    assert "fix: use a target every DET can reach, e.g. 13,836, 41,520, 69,204" in message


def test_flatten_and_unflatten_are_exact_inverses(tiny_bert_dir) -> None:
    model = AutoModel.from_pretrained(tiny_bert_dir)
    for p in model.parameters():
        p.requires_grad_(False)
    choice = match_sizes(model, DETS, 5_328)[2]
    module = DetModule(model, choice)
    layout = FlatLayout.trainable(module)
    assert layout.size == choice.size
    theta = torch.randn(layout.size)
    layout.load_into(module, theta)
    assert torch.equal(layout.flatten_module(module), theta)
    views = layout.unflatten(theta)
    assert [tuple(v.shape) for v in views.values()] == [e.shape for e in layout.entries]
    with pytest.raises(ValueError, match="layout needs"):
        layout.unflatten(theta[:-1])


def test_decode_is_theta0_plus_the_decoder_and_fit_decoder_reconstructs_exactly() -> None:
    torch.manual_seed(0)
    theta0, theta = torch.randn(500), torch.randn(500)
    codec = SubspaceCodec(theta0, d=4)
    assert torch.allclose(codec.decode(torch.zeros(4)), theta0)
    codec.fit_decoder(theta)
    assert float(codec.reconstruction_error(theta).detach()) < 1e-4
    with pytest.raises(ValueError, match="d=0"):
        SubspaceCodec(theta0, d=0)


def test_convex_weights_follow_the_spec_draw_for_three() -> None:
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    w = convex_weights(3, g1)
    a = float(torch.rand((), generator=g2))
    b = float(torch.rand((), generator=g2)) * (1 - a)
    assert torch.allclose(w, torch.tensor([a, b, 1 - a - b]))
    for k in (2, 5):
        w = convex_weights(k, g1)
        assert w.shape == (k,) and bool((w >= 0).all()) and abs(float(w.sum()) - 1) < 1e-6
    points = torch.eye(3)
    assert torch.allclose(mix(points, torch.tensor([0.2, 0.3, 0.5])), torch.tensor([0.2, 0.3, 0.5]))


def test_the_plane_passes_through_three_points_in_any_dimension() -> None:
    torch.manual_seed(1)
    points = torch.randn(3, 6)
    plane = plane_through(points)
    assert plane.residual < 1e-5
    for k in range(3):
        u, v = plane.coords[k].tolist()
        assert torch.allclose(plane.point(u, v), points[k], atol=1e-5)
    grid = grid_on(plane, 5, margin=0.25)
    assert grid.points.shape == (5, 5, 6) and grid.u.shape == (5,) and grid.v.shape == (5,)
    # every P_k lies inside the grid's square
    for u, v in plane.coords.tolist():
        assert grid.u[0] < u < grid.u[-1] and grid.v[0] < v < grid.v[-1]
    with pytest.raises(ValueError, match="d >= 2"):
        plane_through(torch.randn(3, 1))


def _attention_by_hand(layer, hidden, prefix: PrefixDelta) -> torch.Tensor:
    """Self-attention output with the prefix concatenated explicitly (no mask, one row)."""
    sa = layer.attention.self
    heads, size = sa.num_attention_heads, sa.attention_head_size

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, heads, size).transpose(1, 2)

    q, k, v = split(sa.query(hidden)), split(sa.key(hidden)), split(sa.value(hidden))
    pk = split(prefix.prefix_key.unsqueeze(0))
    pv = split(prefix.prefix_value.unsqueeze(0))
    k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
    weights = torch.softmax(q @ k.transpose(-1, -2) * size**-0.5, -1)
    return (weights @ v).transpose(1, 2).reshape(hidden.shape)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_prefix_attends_to_the_prefix_exactly_and_is_padding_invariant(tiny_bert_dir, impl) -> None:
    model = AutoModel.from_pretrained(tiny_bert_dir, attn_implementation=impl).eval()
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    batch = tok(
        ["a short one", "a much longer sentence, padded"], padding=True, return_tensors="pt"
    )
    base = model(**batch).last_hidden_state
    torch.manual_seed(0)
    prefixes = [PrefixDelta(32, 3, init_std=1.0) for _ in model.encoder.layer]
    for prefix, layer in zip(prefixes, model.encoder.layer, strict=True):
        prefix.attach(layer.attention)
    with torch.no_grad():
        out = model(**batch).last_hidden_state
        alone = model(**tok(["a short one"], return_tensors="pt")).last_hidden_state
        hidden = torch.randn(1, 4, 32)
        by_hook = model.encoder.layer[0].attention.self(hidden)[0]
        by_hand = _attention_by_hand(model.encoder.layer[0], hidden, prefixes[0])
    assert (out - base).abs().max() > 1e-3  # the prefix changes the outputs
    assert torch.allclose(out[0, : alone.shape[1]], alone[0], atol=1e-5)  # mask widened right
    assert torch.allclose(by_hook, by_hand, atol=1e-5)
    slot = GateSlot()
    for i, prefix in enumerate(prefixes):
        prefix.gate_slot, prefix.gate_index = slot, i
    slot.z = torch.zeros(len(prefixes))
    with torch.no_grad():
        assert torch.allclose(model(**batch).last_hidden_state, base, atol=1e-6)  # z = 0: off
    for prefix in prefixes:
        prefix.detach()
    with torch.no_grad():
        assert torch.equal(model(**batch).last_hidden_state, base)  # detached: untouched


def test_the_torch_free_det_list_is_the_catalogue() -> None:
    from search_space.subspace import DETS as CATALOGUE
    from workers.subspace.checks import DETS as NAMES

    assert tuple(CATALOGUE) == NAMES
