"""Issue 9: the encoder's linears run on real tokens only, and nothing else changes.

The strong check is training mode: dropout is on, so equal losses and gradients mean the
padded tensors still draw the same random numbers in the same order."""

from __future__ import annotations

import pytest
import torch

from search_space import (
    GatedSupernet,
    backbone_params,
    find_candidates,
    load_backbone,
    parse_budget,
)
from tests.conftest import MINILM, SHARED_DATA
from workers.data import Example, encode_for_encoder, get_task
from workers.task_model import TaskModel
from workers.token_packing import PackedLinear

SENTENCES = [
    "a",
    "it is a much longer sentence than the first one, with many more words in it and more",
    "ok",
    "short one",
    "the film is good",
    "no",
]


def _model(pack: bool) -> tuple[TaskModel, GatedSupernet, dict[str, torch.Tensor]]:
    backbone, tok = load_backbone(MINILM)
    spec = get_task("glue/sst2")
    torch.manual_seed(0)
    model = TaskModel(backbone, spec, False, pack_tokens=pack)
    cands = find_candidates(backbone, "M")
    budget = parse_budget("0.05%").resolve(backbone_params(backbone))
    net = GatedSupernet(backbone, cands, budget, seed=0)
    with torch.no_grad():  # non-zero deltas, so the hooks' additions matter
        g = torch.Generator().manual_seed(1)
        for p in net.delta_set.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    model.attach_deltas(net)
    examples = [Example(i, s, i % 2) for i, s in enumerate(SENTENCES)]
    return model, net, encode_for_encoder(spec, examples, tok, 48)


def test_linears_swapped_in_place_and_names_kept():
    model, _, _ = _model(pack=True)
    plain, _, _ = _model(pack=False)
    assert model.packing is not None and len(model.packing.linears) == 36  # 6 layers x 6
    assert all(isinstance(m, PackedLinear) for m in model.packing.linears)
    assert model.state_dict().keys() == plain.state_dict().keys()
    assert plain.packing is None
    assert not any(isinstance(m, PackedLinear) for m in plain.modules())


def test_packed_forward_equals_padded_and_packs_only_with_enough_padding():
    model, net, enc = _model(pack=True)
    model.eval()
    batch = {k: v for k, v in enc.items()}
    seen: list[int] = []
    query = model.packing.linears[0]  # type: ignore[union-attr]
    query.register_forward_hook(lambda m, i, o: seen.append(int(m.packing.rows)))
    with torch.no_grad():
        packed = model.logits(batch)
        assert seen == [batch["input_ids"].numel()]  # packed: the index was set
        model.packing, saved = None, model.packing
        padded = model.logits(batch)
        model.packing = saved
    assert torch.allclose(packed, padded, atol=1e-5, rtol=1e-5)
    # one long row only: no padding, so nothing is packed
    seen.clear()
    one = {k: v[1:2] for k, v in batch.items()}
    with torch.no_grad():
        model.logits(one)
    assert seen == [0]
    net.remove()


def test_training_step_same_loss_and_gradients_with_dropout():
    results = []
    for pack in (True, False):
        model, net, enc = _model(pack=pack)
        model.train()
        torch.manual_seed(5)  # same dropout draws, if and only if shapes are unchanged
        loss = model.loss(enc)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((float(loss.detach()), grads))
        net.remove()
    (loss_p, grads_p), (loss_u, grads_u) = results
    assert loss_p == pytest.approx(loss_u, rel=1e-5)
    assert grads_p.keys() == grads_u.keys() and any("alpha" in n for n in grads_p)
    for name, g in grads_p.items():
        assert torch.allclose(g, grads_u[name], atol=1e-6, rtol=1e-4), name


def test_seq2seq_is_never_packed(tiny_t5_dir):
    backbone, _ = load_backbone(str(tiny_t5_dir))
    model = TaskModel(backbone, get_task("glue/sst2"), True)
    assert model.packing is None
    assert not any(isinstance(m, PackedLinear) for m in backbone.modules())


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
@pytest.mark.heavy
def test_trial_scores_and_structure_equal_with_and_without_packing(tmp_path):
    from workers.trial import run_trial
    from workers.trial_types import TrialConfig

    out = []
    for pack in (True, False):
        cfg = TrialConfig(
            task="glue/sst2", method="s3delta", budget="0.01%", seed=2,
            data_dir=str(SHARED_DATA), max_train_examples=96, max_eval_examples=48,
            max_length=48, batch_size=16, search_steps=6, retrain_steps=6, eval_every=3,
            num_threads=1, delta_lr=1e-2, pack_tokens=pack, output_dir=str(tmp_path / str(pack)),
        )  # fmt: skip
        out.append(run_trial(cfg))
    packed, padded = out
    assert packed.structure == padded.structure
    assert packed.dev == pytest.approx(padded.dev, abs=1e-9)
    assert packed.test == pytest.approx(padded.test, abs=1e-9)


def test_a_backbone_without_site_rules_runs_unpacked():
    from torch import nn

    class Unknown(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

    from workers.token_packing import TokenPacking

    model = Unknown()
    packing = TokenPacking(model)
    assert packing.linears == [] and type(model.proj) is nn.Linear
