"""peft/adalora: PEFT's AdaLoRA held to the budget within one triplet, same protocol."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED_DATA
from workers.methods import parse_method
from workers.methods.peft_adalora import AdaLoraBudgetError, adalora_plan
from workers.trial import run_trial
from workers.trial_types import TrialConfig


def test_the_plan_holds_the_budget_to_one_triplet() -> None:
    # MiniLM: 12 query/value Linears of 384 x 384, a triplet is 384 + 384 + 1 parameters
    costs = [769] * 12
    for budget in (2271, 4542, 11355, 22710, 113550):  # 0.01% .. 0.5% of MiniLM
        plan = adalora_plan(costs, budget, steps=300)
        size = plan.target_triplets * 769
        assert budget - 769 < size <= budget
        assert plan.init_r * 12 > plan.target_triplets  # something to prune
        assert 0 <= plan.tinit < plan.final_step < plan.total_step
    assert adalora_plan(costs, 2271, 300).target_r == 1  # recorded nearest whole rank
    with pytest.raises(AdaLoraBudgetError, match="smaller than one AdaLoRA triplet"):
        adalora_plan(costs, 454, 300)  # 0.002% of MiniLM


def test_the_method_name_parses() -> None:
    method = parse_method("peft/adalora")
    assert method.uses_budget and method.arg == "adalora"
    with pytest.raises(ValueError, match="peft/adalora"):
        parse_method("peft/lora")


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_a_run_records_its_final_size_within_one_triplet_of_the_budget(tiny_bert_dir, tmp_path):
    cfg = TrialConfig(
        model=str(tiny_bert_dir), task="glue/sst2", method="peft/adalora", budget="1000",
        seed=3, data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32,
        max_length=24, batch_size=8, eval_batch_size=32, retrain_steps=10, eval_every=2,
        num_threads=1, delta_lr=1e-2, device="cpu", output_dir=str(tmp_path),
    )  # fmt: skip
    events = []
    result = run_trial(cfg, events.append)
    record = json.loads((tmp_path / "adalora.json").read_text())
    cost = record["triplet_cost"]  # tiny BERT: 32 + 32 + 1
    assert cost == 65 and result.budget_params == 1000
    assert 1000 - cost < result.delta_params <= 1000
    assert result.delta_params == record["final_size"] == record["kept_triplets"] * cost
    assert record["kept_triplets"] == record["target_triplets"] == 1000 // 65
    assert record["initial_size"] > 1000  # it trained more triplets, then pruned to budget
    assert result.structure is None and result.test_score == result.test_score
    # selection only among evaluations after the final ranks were fixed
    retrain = [e for e in events if e.phase == "retrain"]
    final_step = record["schedule"]["total"] - record["schedule"]["tfinal"]
    assert all(e.metrics["adalora_triplets"] == 15 for e in retrain if e.step >= final_step)
    assert max(e.metrics["adalora_triplets"] for e in retrain) > 15


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_peft_lora_trains_the_ranks_of_a_searched_lora_structure(tiny_bert_dir, tmp_path):
    from search_space import (
        backbone_params,
        find_candidates,
        load_backbone,
        random_select,
        structure_from_candidates,
    )

    backbone, _ = load_backbone(str(tiny_bert_dir))
    cands = find_candidates(backbone, "L")
    assert {c.kind for c in cands} == {"lora"}
    n = backbone_params(backbone)
    chosen = random_select(cands, 600, seed=1)
    structure = structure_from_candidates(chosen, str(tiny_bert_dir), n, 600, "L")
    path = structure.save(tmp_path / "searched.json")
    common = dict(
        model=str(tiny_bert_dir), task="glue/sst2", budget=None, seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, eval_batch_size=32, retrain_steps=4, eval_every=2, num_threads=1,
        delta_lr=1e-2, device="cpu",
    )  # fmt: skip
    out = tmp_path / "peft"
    peft_run = run_trial(
        TrialConfig(method=f"peft-lora/{path}", output_dir=str(out), **common)  # type: ignore[arg-type]
    )
    ours = run_trial(TrialConfig(method=f"manual/{path}", **common))  # type: ignore[arg-type]
    assert peft_run.delta_params == ours.delta_params == structure.total_size
    record = json.loads((out / "peft_lora.json").read_text())
    assert record["ranks"] == {e.path: 1 for e in structure.entries}
    assert json.loads((out / "source_structure.json").read_text())["entries"] == [
        e.to_dict() for e in structure.entries
    ]
    not_lora = [c for c in find_candidates(backbone, "M") if c.kind != "lora"][:2]
    mixed = structure_from_candidates(not_lora, str(tiny_bert_dir), n, None, "M")
    bad = mixed.save(tmp_path / "mixed.json")
    with pytest.raises(ValueError, match="LoRA entries only"):
        run_trial(TrialConfig(method=f"peft-lora/{bad}", **common))  # type: ignore[arg-type]


def test_a_run_resumed_after_the_ranks_were_fixed_keeps_them(tiny_bert_dir) -> None:
    """PEFT holds the final rank pattern in memory only; a resumed trial reads it off the
    checkpointed singular values instead of failing on a missing pattern."""
    import torch
    from peft import AdaLoraConfig
    from peft.tuners.adalora import AdaLoraModel

    from search_space import load_backbone
    from workers.methods.peft_adalora import AdaLoraRun

    backbone, _ = load_backbone(str(tiny_bert_dir))
    config = AdaLoraConfig(
        init_r=4, target_r=1, tinit=1, tfinal=2, total_step=10,
        target_modules=["query", "value"], lora_dropout=0.0,
    )  # fmt: skip
    tuner = AdaLoraModel(backbone, config, "default")
    plan = adalora_plan([65] * 4, 300, 10)
    run = AdaLoraRun(tuner, plan, sizes=dict.fromkeys(range(4), 65))  # type: ignore[arg-type]
    with torch.no_grad():
        for i, (name, p) in enumerate(tuner.model.named_parameters()):
            if "lora_E" in name:
                p.copy_(torch.tensor([[1.0], [0.0], [0.0], [0.0]]) if i % 2 else torch.zeros(4, 1))
    before = run.pattern()
    assert config.rank_pattern is None
    run.set_step(10)  # resumed after the final step (10 - 2): PEFT lost its pattern
    with torch.no_grad():
        for name, p in tuner.model.named_parameters():
            if "lora_E" in name:
                p.add_(0.5)  # an optimiser step moved every singular value
    run.allocate()
    assert run.pattern() == before  # masked back to the checkpointed ranks
