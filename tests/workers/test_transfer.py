"""transfer/<task> as a trial: it needs a source structure and refuses one over its budget."""

from __future__ import annotations

import pytest

from search_space import backbone_params, find_candidates, load_backbone, structure_from_candidates
from tests.conftest import SHARED_DATA
from workers.methods import parse_method
from workers.methods.transfer import TransferError
from workers.trial import TrialSetupError, run_trial
from workers.trial_types import TrialConfig


def _cfg(model_dir, **kw) -> TrialConfig:
    base = dict(
        model=str(model_dir), task="glue/rte", method="transfer/glue/sst2", budget="1%", seed=1,
        data_dir=str(SHARED_DATA), max_train_examples=32, max_eval_examples=16, max_length=24,
        batch_size=8, eval_batch_size=16, retrain_steps=2, eval_every=1, num_threads=1,
        device="cpu",
    )  # fmt: skip
    base.update(kw)
    return TrialConfig(**base)


def test_the_source_task_must_be_a_task() -> None:
    assert parse_method("transfer/glue/sst2").arg == "glue/sst2"
    with pytest.raises(ValueError, match="unknown task"):
        parse_method("transfer/glue/nope")


def test_without_a_source_structure_it_says_where_one_comes_from(tiny_bert_dir) -> None:
    with pytest.raises(TrialSetupError, match="in a sweep whose tasks include that task"):
        run_trial(_cfg(tiny_bert_dir))


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "RTE").is_dir(), reason="needs shared/data")
def test_it_retrains_the_given_structure_and_refuses_one_over_budget(tiny_bert_dir, tmp_path):
    backbone, _ = load_backbone(str(tiny_bert_dir))
    n = backbone_params(backbone)
    cands = find_candidates(backbone, "M")
    small = structure_from_candidates(
        cands[:2], str(tiny_bert_dir), n, None, "M", {"task": "glue/sst2"}
    )
    path = small.save(tmp_path / "small.json")
    result = run_trial(_cfg(tiny_bert_dir, structure_from=str(path), budget=str(small.total_size)))
    assert result.structure["entries"] == [e.to_dict() for e in small.entries]
    assert result.structure["meta"]["transfer"]["source_task"] == "glue/sst2"
    big = structure_from_candidates(cands, str(tiny_bert_dir), n, None, "M")
    path = big.save(tmp_path / "big.json")
    with pytest.raises(TransferError, match="over this trial's budget"):
        run_trial(_cfg(tiny_bert_dir, structure_from=str(path), budget=str(big.total_size - 1)))
