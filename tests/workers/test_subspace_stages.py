"""The subspace experiment's stages on a tiny random BERT (real data, real training), the
checks that refuse bad configs before any work, and one real-MiniLM run on SST-2."""

from __future__ import annotations

import time

import pytest
import torch

from tests.conftest import MINILM, SHARED_DATA
from workers.subspace import SubspaceConfig, SubspaceSetupError, run_subspace
from workers.subspace.context import SubspaceContext
from workers.subspace.det_model import DetModel, build_det_models
from workers.subspace.setup import check_config
from workers.subspace.stage1 import make_codecs, stage1_loss
from workers.subspace.stage2 import optimise_v, score_at, transfer_scores


def tiny(model_dir, **kw) -> SubspaceConfig:
    base = dict(
        model=str(model_dir),
        task="glue/sst2",
        seed=3,
        data_dir=str(SHARED_DATA),
        target_size=5_328,
        max_train_examples=64,
        max_eval_examples=32,
        max_length=24,
        batch_size=8,
        eval_batch_size=32,
        stage0_steps=6,
        eval_every=3,
        stage1_steps=4,
        stage2_steps=6,
        stage2_eval_every=3,
        stage2_lr=0.05,
        grid_size=3,
        grid_eval_examples=16,
        num_threads=1,
    )
    base.update(kw)
    return SubspaceConfig(**base)


@pytest.fixture(scope="module")
def setup(tiny_bert_dir):
    """Context and the three DETs, each with a slightly trained theta_k."""
    cfg = tiny(tiny_bert_dir)
    spec, choices = check_config(cfg)
    ctx = SubspaceContext(cfg, spec)
    dets = build_det_models(ctx, ctx.load(), choices)
    torch.manual_seed(0)
    thetas = [d.theta0 + 0.05 * torch.randn_like(d.theta0) for d in dets]
    return ctx, dets, thetas


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_reconstruction_alone_returns_theta_k(setup) -> None:
    """An encoder/decoder pair from PyTorch's default init, trained on the reconstruction
    term only, decodes E_k(theta_k) back to theta_k."""
    ctx, dets, thetas = setup
    ctx.cfg.decoder_init = "random"
    try:
        codecs = make_codecs(ctx, dets, thetas)
    finally:
        ctx.cfg.decoder_init = "fit"
    params = [p for c in codecs for p in c.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    steps = 500
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    weights = torch.full((3,), 1 / 3)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss, metrics = stage1_loss(dets, codecs, thetas, weights, None, recon_weight=1.0)
        first = first if first is not None else metrics["recon"]
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        for codec, theta in zip(codecs, thetas, strict=True):
            error = float(codec.reconstruction_error(theta))
            assert error < 2e-3 * float(theta.norm()), error
    assert first is not None and first > 100 * metrics["recon"]


def test_stage_two_moves_nothing_but_v(setup) -> None:
    ctx, dets, thetas = setup
    codecs = make_codecs(ctx, dets, thetas)
    points = torch.stack([c.encode(t) for c, t in zip(codecs, thetas, strict=True)]).detach()
    det = dets[1]
    codec_before = _state(codecs[1])
    backbone_before = _state(det.model.backbone)
    others_before = [_state(d.model) for d in (dets[0], dets[2])]
    outcome = optimise_v(ctx, det, codecs[1], points, 1)
    assert not torch.equal(outcome.v, outcome.v_init) or outcome.best_step == 0
    assert any(h["loss"] != outcome.history[0]["loss"] for h in outcome.history)
    for name, value in _state(codecs[1]).items():
        assert torch.equal(value, codec_before[name]), name
    for name, value in _state(det.model.backbone).items():
        assert torch.equal(value, backbone_before[name]), name
    for d, before in zip((dets[0], dets[2]), others_before, strict=True):
        for name, value in _state(d.model).items():
            assert torch.equal(value, before[name]), name
    assert all(not p.requires_grad for p in codecs[1].parameters())


def test_transfer_goes_through_the_other_dets_decoder(setup) -> None:
    ctx, dets, thetas = setup
    codecs = make_codecs(ctx, dets, thetas)
    points = torch.stack([c.encode(t) for c, t in zip(codecs, thetas, strict=True)]).detach()
    vs = [points[0] + 0.1, points[1] - 0.1, points[2]]
    matrix = transfer_scores(ctx, dets, codecs, vs, "dev")
    # entry (0, 2) is v_0 decoded by DET 2's decoder, scored on DET 2's model
    expected = score_at(ctx, dets[2], codecs[2].decode(vs[0]), "dev")
    assert matrix[0][2] == expected
    # with DET 0's decoder zeroed, v_0 through DET 0 is theta0 but its transfers do not move
    with torch.no_grad():
        codecs[0].decoder.weight.zero_()
    again = transfer_scores(ctx, dets, codecs, vs, "dev")
    assert again[0][1:] == matrix[0][1:]
    assert again[0][0] == score_at(ctx, dets[0], dets[0].theta0, "dev")


def test_same_seed_same_v_and_scores_and_the_grid_has_its_shape(tiny_bert_dir, tmp_path) -> None:
    first = run_subspace(tiny(tiny_bert_dir, output_dir=str(tmp_path / "a"), grid_size=4))
    second = run_subspace(tiny(tiny_bert_dir, output_dir=str(tmp_path / "b"), grid_size=4))
    other = run_subspace(tiny(tiny_bert_dir, seed=4, grid_size=0, output_dir=str(tmp_path / "c")))
    assert first.v == second.v and first.points == second.points
    assert first.transfer_test == second.transfer_test
    assert [d.original_test for d in first.dets] == [d.original_test for d in second.dets]
    assert first.grid["scores"] == second.grid["scores"]
    assert other.v != first.v
    scores = first.grid["scores"]
    assert len(scores) == 3 and all(len(p) == 4 and all(len(r) == 4 for r in p) for p in scores)
    assert len(first.grid["u"]) == 4 and len(first.grid["v"]) == 4
    assert len(first.grid["point_coords"]) == 3 and len(first.v) == 3 and len(first.v[0]) == 4
    assert {d.name: d.delta_size for d in first.dets} == {
        "adapter": 5_328,
        "lora": 5_376,
        "prefix": 5_376,
    }
    assert all(d.theta_size == d.delta_size + d.head_size for d in first.dets)
    assert other.grid == {}
    for name in ("codecs.safetensors", "v.safetensors", "layouts.json", "grid.json"):
        assert (tmp_path / "a" / name).is_file()


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        ({"dets": ("lora",)}, "dets:", "list two or more of"),
        ({"dets": ("lora", "ia3")}, "dets: unknown DET 'ia3'", "fix: use 'adapter', 'lora'"),
        ({"target_size": 6_000}, "target_size: 6,000 cannot be matched within 1%", "fix: use"),
        ({"d": 0}, "d: 0", "fix: a whole number of at least 1"),
        ({"d": -3}, "d: -3", "fix:"),
    ],
)
def test_bad_input_fails_before_any_work(tiny_bert_dir, change, field, fix) -> None:
    """A data folder that does not exist shows no work started: the config error comes first."""
    cfg = tiny(tiny_bert_dir, data_dir="/nonexistent/data", **change)
    started = time.perf_counter()
    with pytest.raises(SubspaceSetupError) as info:
        run_subspace(cfg)
    message = str(info.value)
    assert message.startswith(field.split(" ")[0]) and field in message and fix in message
    assert time.perf_counter() - started < 10


@pytest.mark.slow
def test_the_subspace_score_on_sst2_with_minilm_is_clearly_above_chance(tmp_path) -> None:
    """Real MiniLM weights: every DET, optimised only through its 4-dim v, scores well
    above the majority class of SST-2's test half (~51%)."""
    cfg = SubspaceConfig(
        model=MINILM,
        task="glue/sst2",
        seed=1,
        data_dir=str(SHARED_DATA),
        max_train_examples=2000,
        max_eval_examples=200,
        max_length=48,
        batch_size=16,
        eval_batch_size=64,
        stage0_steps=60,
        stage0_lr=1e-2,
        head_lr=1e-2,
        eval_every=30,
        stage1_steps=20,
        stage2_steps=30,
        stage2_lr=0.05,
        stage2_eval_every=15,
        grid_size=0,
        output_dir=str(tmp_path),
    )
    result = run_subspace(cfg)
    for det in result.dets:
        assert det.original_test > 0.7, det
        assert det.subspace_test > 0.65, det


def test_det_models_keep_sizes(setup) -> None:
    _, dets, _ = setup
    for det in dets:
        assert isinstance(det, DetModel)
        assert det.layout.size == det.delta_size + det.head_size == det.theta0.numel()


def test_a_rerun_resumes_from_the_finished_stages_with_the_same_result(
    tiny_bert_dir, tmp_path
) -> None:
    """A Ray retry or --resume reruns with the same output_dir: stages 0 and 1 are read
    back instead of trained, and the result is the uninterrupted one; a changed setting
    trains its stages again."""
    phases: list[str] = []
    out = str(tmp_path / "x")
    first = run_subspace(tiny(tiny_bert_dir, output_dir=out, grid_size=0))
    assert (tmp_path / "x" / "checkpoints" / "stage1.json").is_file()
    again = run_subspace(
        tiny(tiny_bert_dir, output_dir=out, grid_size=0), callback=lambda e: phases.append(e.phase)
    )
    assert phases and not any(p.startswith(("stage0", "stage1")) for p in phases)
    assert again.v == first.v and again.points == first.points
    assert again.transfer_test == first.transfer_test
    assert [d.original_test for d in again.dets] == [d.original_test for d in first.dets]
    phases.clear()
    run_subspace(
        tiny(tiny_bert_dir, output_dir=out, grid_size=0, stage0_steps=3),
        callback=lambda e: phases.append(e.phase),
    )
    assert any(p.startswith("stage0") for p in phases) and "stage1" in phases
