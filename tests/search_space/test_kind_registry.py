"""A new delta kind is one declaration plus one `register_kind` line (issue 11).

The toy kind here, a per-feature output scale on every Linear and norm
(h = f(x) * (1 + z s), s = 0 at init) with one typed option (``groups``: features that
share one scale), is registered at test time only. With nothing else changed it must:
appear in a space with exact sizes, train (gradients reach it and the loss falls, in a
real trial on a tiny BERT too), be saved and loaded (structure JSON and delta weights),
be drawn by the random structure sampler and in the dashboards, and leave the registry
as it was when unregistered.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from search_space import (
    Structure,
    apply_structure,
    backbone_params,
    find_candidates,
    load_backbone,
    random_select,
    structure_from_candidates,
)
from search_space.deltas import (
    BuildContext,
    Delta,
    DeltaKind,
    KindOptions,
    Site,
    kind_names,
    register_kind,
    unregister_kind,
)
from search_space.peft_export import peft_support
from search_space.positions import SPACES
from search_space.structure import StructureEntry
from search_space.structure_check import structure_problems
from search_space.weights import read_delta, save_delta
from tests.conftest import SHARED_DATA

BUILT_IN = kind_names()  # the registry as imported, before a test adds a kind


@dataclass(frozen=True)
class ScaleOptions(KindOptions):
    """Features that share one scale (1: one scale per feature)."""

    groups: int = 1


class ScaleDelta(Delta):
    kind = "toyscale"

    def __init__(self, features: int, groups: int) -> None:
        super().__init__()
        self.features, self.groups = features, groups
        self.scale = nn.Parameter(torch.zeros(math.ceil(features / groups)))

    def delta(self, x: torch.Tensor, out: torch.Tensor, gate: torch.Tensor | float) -> torch.Tensor:
        scale = self.scale.repeat_interleave(self.groups)[: self.features]
        return out * (scale * gate)


def _size(site: Site, options: ScaleOptions) -> int:
    return math.ceil(site.out_features / options.groups)


def _build(site: Site, options: ScaleOptions, ctx: BuildContext) -> ScaleDelta:
    return ScaleDelta(site.out_features, options.groups)


TOY = DeltaKind(
    name="toyscale",
    sites=("linear", "norm"),
    options=ScaleOptions,
    size=_size,
    build=_build,
    spaces=("M",),
    site_priority=2,  # after lora/lnfit and bitfit at a site
    label="output scale",
    color="#e377c2",
)


@pytest.fixture
def toy():
    register_kind(TOY)  # the one registry line
    try:
        yield TOY
    finally:
        unregister_kind(TOY.name)


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    model, tokenizer = load_backbone(str(tiny_bert_dir))
    return model, tokenizer


def _toy_structure(model: nn.Module, groups: int) -> Structure:
    """The toy kind on every q/v Linear and every norm, ``groups`` features per scale."""
    entries = [
        StructureEntry(
            c.site.path,
            "toyscale",
            math.ceil(c.site.out_features / groups),
            (("groups", groups),),
            c.site.layer,
            c.site.role,
            c.site.stack,
        )
        for c in find_candidates(model, "M")
        if c.kind == "toyscale" and (c.site.site_type == "norm" or c.site.role in ("q", "v"))
    ]
    return Structure(tuple(entries), "tiny", backbone_params(model), None, "manual")


def test_registering_a_kind_puts_it_in_a_space_with_exact_sizes(toy, tiny) -> None:
    model, _ = tiny
    assert kind_names() == (*BUILT_IN, "toyscale")
    assert SPACES["M"]["linear"] == ("lora", "bitfit", "toyscale")
    assert SPACES["M"]["norm"] == ("lnfit", "bitfit", "toyscale")
    assert SPACES["L"]["linear"] == ("lora",)
    cands = find_candidates(model, "M")
    toys = [c for c in cands if c.kind == "toyscale"]
    # tiny BERT: 6 Linears and 2 norms per layer, 2 layers, plus the embedding norm
    assert len(toys) == 2 * (6 + 2) + 1
    net = apply_structure(
        model, structure_from_candidates(toys, "tiny", backbone_params(model), None)
    )
    try:
        assert net.num_params() == sum(c.size for c in toys)
        for name, delta in net.items():
            assert delta.kind == "toyscale"
            assert sum(p.numel() for p in delta.parameters()) == next(
                c.size for c in toys if c.name == name
            )
    finally:
        net.detach_all()


def test_the_toy_kind_trains(toy, tiny) -> None:
    """Gradients reach the scales, the loss falls, the backbone stays as it was."""
    model, tokenizer = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    structure = _toy_structure(model, groups=4)
    net = apply_structure(model, structure)
    try:
        torch.manual_seed(0)
        batch = tokenizer(["a short sentence", "another one here"], return_tensors="pt")
        target = torch.randn(2, model.config.hidden_size)
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        losses = []
        for _ in range(25):
            pooled = model(**batch).last_hidden_state.mean(1)
            loss = (pooled - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            losses.append(loss.item())
            opt.step()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
        assert losses[-1] < 0.9 * losses[0]
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    finally:
        net.detach_all()


def test_the_toy_kind_is_saved_and_loaded(toy, tiny, tmp_path) -> None:
    model, _ = tiny
    structure = _toy_structure(model, groups=4)
    path = structure.save(tmp_path / "structure.json")
    entry = json.loads(path.read_text())["entries"][0]
    assert entry["kind"] == "toyscale" and entry["groups"] == 4 and "rank" not in entry
    loaded = Structure.load(path)
    assert loaded == structure
    assert structure_problems(loaded, model) == []
    wrong = Structure.from_dict({**structure.to_dict(), "entries": [{**entry, "groups": 2}]})
    assert structure_problems(wrong, model) == [
        f"entries[0] ({structure.entries[0].name}): claims size {entry['size']:,} but a "
        f"toyscale there has {entry['size'] * 2:,} parameters; correct the size (or re-export "
        "the structure)"
    ]
    net = apply_structure(model, loaded)
    try:
        with torch.no_grad():
            for p in net.parameters():
                p.uniform_(-1, 1)
        save_delta(tmp_path / "delta.safetensors", net.named_tensors(), loaded, "fp")
    finally:
        net.detach_all()
    tensors, _, meta = read_delta(tmp_path / "delta.safetensors")
    again = apply_structure(model, Structure.from_dict(json.loads(meta["structure"])))
    try:
        again.load_named_tensors(tensors)
        assert all(torch.equal(again.named_tensors()[k], v) for k, v in tensors.items())
    finally:
        again.detach_all()
    support = peft_support(loaded, model)
    assert not support.supported
    assert set(support.unsupported.values()) == {"PEFT has no 'toyscale' module"}


def test_the_random_sampler_and_the_dashboards_draw_it(toy, tiny) -> None:
    from dashboards.budget_split import budget_split_figure
    from dashboards.heatmap import probability_heatmap_figure

    model, _ = tiny
    cands = find_candidates(model, "M")
    drawn = [c for seed in range(10) for c in random_select(cands, 400, seed)]
    assert any(c.kind == "toyscale" for c in drawn)
    structure = _toy_structure(model, groups=1)
    bars = budget_split_figure([("0.1%", structure)])
    (toy_bar,) = [t for t in bars.data if t.name == "toyscale"]
    assert toy_bar.marker.color == TOY.color
    probabilities = {c.name: 0.5 for c in cands}
    heat = probability_heatmap_figure(probabilities, structure)
    assert "toyscale · q" in heat.data[0].y and "toyscale · emb_norm" in heat.data[0].y
    assert list(heat.data[0].y).index("toyscale · q") > list(heat.data[0].y).index("bitfit · q")


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_a_trial_trains_saves_and_reloads_the_toy_kind(toy, tiny, tiny_bert_dir, tmp_path) -> None:
    """The worker path: a manual structure of the new kind retrained, saved, loaded back."""
    from workers.delta_loading import load_trained
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    model, _ = tiny
    path = _toy_structure(model, groups=2).save(tmp_path / "toy.json")
    result = run_trial(
        TrialConfig(
            model=str(tiny_bert_dir),
            task="glue/sst2",
            method=f"manual/{path}",
            budget=None,
            seed=1,
            data_dir=str(SHARED_DATA),
            max_train_examples=32,
            max_eval_examples=16,
            max_length=16,
            batch_size=8,
            retrain_steps=4,
            eval_every=2,
            num_threads=1,
            output_dir=str(tmp_path / "out"),
        )
    )
    assert result.delta_params == _toy_structure(model, groups=2).total_size
    tensors, _, _ = read_delta(tmp_path / "out" / "delta.safetensors")
    assert tensors and any(t.abs().sum() > 0 for t in tensors.values())  # it moved from 0
    loaded = load_trained(tmp_path / "out" / "delta.safetensors", str(tiny_bert_dir))
    assert {d.kind for _, d in loaded.deltas.items()} == {"toyscale"}  # type: ignore[union-attr]


def test_unregistering_leaves_the_registry_as_it_was(tiny) -> None:
    register_kind(TOY)
    unregister_kind(TOY.name)
    assert kind_names() == BUILT_IN and "toyscale" not in BUILT_IN
    assert SPACES["M"] == {
        "linear": ("lora", "bitfit"),
        "norm": ("lnfit", "bitfit"),
        "block": ("lra",),
    }
    assert all(c.kind != "toyscale" for c in find_candidates(tiny[0], "M"))
    with pytest.raises(ValueError, match="already registered"):
        register_kind(DeltaKind("lora", ("linear",), ScaleOptions, _size, _build))
