"""One search, every budget, in trials: a trial retrains another trial's search at its budget."""

from __future__ import annotations

import json

import pytest

from search_space import find_candidates, load_backbone
from search_space.rebudget import select_at_budget
from tests.conftest import SHARED_DATA
from workers.methods.one_search import LogitsSourceError
from workers.trial import run_trial
from workers.trial_types import TrialConfig

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)


def _cfg(model_dir, **kw) -> TrialConfig:
    base = dict(
        model=str(model_dir), task="glue/sst2", method="s3delta", budget="1%", seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, eval_batch_size=32, search_steps=6, retrain_steps=4, eval_every=2,
        num_threads=1, delta_lr=1e-2, device="cpu",
    )  # fmt: skip
    base.update(kw)
    return TrialConfig(**base)


def test_a_trial_retrains_the_searchs_structure_at_its_own_budget(tiny_bert_dir, tmp_path):
    source = run_trial(_cfg(tiny_bert_dir, output_dir=str(tmp_path / "search")))
    logits_file = tmp_path / "search" / "logits.json"
    assert source.artifacts["logits.json"] == str(logits_file)
    record = json.loads(logits_file.read_text())
    assert record["budget"] == source.budget_params and set(record["logits"]) == set(
        source.probabilities
    )
    # at the search's own budget: exactly the searched structure, no search run
    same = run_trial(_cfg(tiny_bert_dir, logits_from=str(logits_file), search_steps=1))
    assert same.structure["entries"] == source.structure["entries"]
    assert same.timings["search_steps"] == 0 and same.cost["cpu_search_steps_s"] == 0
    assert same.structure["meta"]["one_search"]["source_budget"] == "1%"
    # at other budgets: within budget, and what the pure function gives from those logits
    backbone, _ = load_backbone(str(tiny_bert_dir))
    cands = find_candidates(backbone, "M")
    for budget in ("0.3%", "3%"):
        other = run_trial(_cfg(tiny_bert_dir, budget=budget, logits_from=str(logits_file)))
        assert 0 < other.delta_params <= other.budget_params
        expected = select_at_budget(cands, record["logits"], other.budget_params)
        names = [f"{e['path']}:{e['kind']}" for e in other.structure["entries"]]
        assert sorted(names) == sorted(c.name for c in expected)
        assert other.structure["meta"]["one_search"]["source_budget_params"] == record["budget"]


def test_logits_of_another_space_are_refused(tiny_bert_dir, tmp_path):
    path = tmp_path / "logits.json"
    path.write_text(json.dumps({"format": "s3delta.logits", "space": "L", "logits": {"x": 1.0}}))
    with pytest.raises(LogitsSourceError, match="space 'L'"):
        run_trial(_cfg(tiny_bert_dir, logits_from=str(path)))
    with pytest.raises(LogitsSourceError, match="does not exist"):
        run_trial(_cfg(tiny_bert_dir, logits_from=str(tmp_path / "missing.json")))
