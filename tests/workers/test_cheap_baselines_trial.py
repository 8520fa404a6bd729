"""``uniform`` and ``random-mask`` as registered methods (issue 20): validated and planned
in a sweep like ``random``, run as real trials, recorded (structure / mask hash), and the
random mask's file writes the trained weights into a pretrained model (its native export)."""

from __future__ import annotations

import pytest
import torch

from orchestrator.sweep import build_plan, parse_sweep
from search_space import read_delta
from search_space.random_mask import apply_mask_tensors, changed_count
from tests.conftest import SHARED_DATA
from workers.trial import run_trial
from workers.trial_types import TrialConfig

SWEEP = """
name: cheap
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2]
methods: [s3delta, random, uniform, random-mask]
budgets: ["0.01%", "0.002%"]
seeds: [1, 2]
search_space:
  delta_lr: {distribution: log_uniform, min: 1e-4, max: 1e-1}
  structure_lr: {distribution: log_uniform, min: 0.01, max: 0.3}
optuna: {trials_per_cell: 2}
"""


def test_the_sweep_plans_both_baselines_per_budget_tuning_only_their_lr(tmp_path) -> None:
    plan = build_plan(parse_sweep(SWEEP, tmp_path))
    for method in ("uniform", "random-mask"):
        cells = [c for c in plan.cells if c.method == method]
        assert sorted(c.budget for c in cells) == ["0.002%", "0.01%"]
        assert all(c.tuned_params == ("delta_lr",) for c in cells)


def _cfg(model_dir, tmp_path, method: str) -> TrialConfig:
    return TrialConfig(
        model=str(model_dir), task="glue/sst2", method=method, budget="0.5%", seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, eval_batch_size=32, retrain_steps=4, eval_every=2, num_threads=1,
        delta_lr=5e-2, output_dir=str(tmp_path),
    )  # fmt: skip


pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)


def test_uniform_trial_records_its_structure(tiny_bert_dir, tmp_path) -> None:
    result = run_trial(_cfg(tiny_bert_dir, tmp_path, "uniform"))
    assert result.structure is not None and result.structure["meta"]["method"] == "uniform"
    entries = result.structure["entries"]
    assert entries and 0 < result.delta_params <= (result.budget_params or 0)
    # the same kind at the same role in every layer that fits
    assert len({(e["kind"], e["path"].split(".")[-1]) for e in entries[:1]}) == 1
    assert set(result.artifacts) == {"structure.json", "delta.safetensors"}


def test_random_mask_trial_trains_exactly_the_budget_and_exports_natively(
    tiny_bert_dir, tmp_path
) -> None:
    from transformers import AutoModel

    a = run_trial(_cfg(tiny_bert_dir, tmp_path / "a", "random-mask"))
    b = run_trial(_cfg(tiny_bert_dir, tmp_path / "b", "random-mask"))
    assert a.structure is None
    assert a.delta_params == a.budget_params == (a.backbone_params * 5) // 1000
    assert a.records["mask_sha256"] == b.records["mask_sha256"]  # seeded
    assert (a.dev, a.test) == (b.dev, b.test)
    tensors, head, meta = read_delta(tmp_path / "a" / "random_mask.safetensors")
    assert meta["mask_sha256"] == a.records["mask_sha256"] and meta["method"] == "random-mask"
    assert int(meta["count"]) == a.delta_params and set(a.artifacts) == {"random_mask.safetensors"}
    n_indices = sum(t.numel() for k, t in tensors.items() if k.endswith(".indices"))
    assert n_indices == a.delta_params and head  # the trained head travels with the mask
    # native form: the pretrained model with the trained values written in
    pretrained = AutoModel.from_pretrained(tiny_bert_dir)
    native = apply_mask_tensors(AutoModel.from_pretrained(tiny_bert_dir), tensors)
    assert 0.5 * a.delta_params < changed_count(native, pretrained) <= a.delta_params
    with torch.no_grad():
        ids = torch.randint(0, 100, (1, 6))
        assert not torch.equal(native(ids).last_hidden_state, pretrained(ids).last_hidden_state)
