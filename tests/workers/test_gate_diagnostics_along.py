"""Gate diagnostics along a search (issue 20): every search evaluation reports how decided
the gates are and how many structure updates were made; ``search_discrete_eval`` adds the
discrete structure's dev score and the gap, and changes nothing else of the search."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from workers.trial import run_trial
from workers.trial_types import TrialConfig

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)


def _run(model_dir, **kw):
    cfg = TrialConfig(
        model=str(model_dir), task="glue/sst2", method="s3delta", budget="0.1%", seed=5,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, eval_batch_size=32, search_steps=6, retrain_steps=2, eval_every=2,
        num_threads=1, delta_lr=1e-2, alpha_warmup_steps=1, **kw,
    )  # fmt: skip
    events = []
    result = run_trial(cfg, events.append)
    along = [e.metrics for e in events if e.phase == "search" and "dev_score" in e.metrics]
    return result, along


def test_diagnostics_at_every_search_evaluation(tiny_bert_dir) -> None:
    plain, along = _run(tiny_bert_dir)
    assert [m["structure_updates"] for m in along] == [1.0, 3.0, 5.0]  # 1 warm-up step
    for m in along:
        assert 0.0 <= m["share_p_gt_half"] <= 1.0 and 0.0 <= m["entropy"] <= 1.0
        assert "discretisation_gap" not in m
    assert plain.search_diagnostics["structure_updates"] == 5.0

    with_gap, along_gap = _run(tiny_bert_dir, search_discrete_eval=True)
    for m in along_gap:
        assert m["discretisation_gap"] == pytest.approx(m["dev_score"] - m["discrete_dev_score"])
    # the extra evaluation does not move the search or the retrain
    assert with_gap.probabilities == plain.probabilities
    assert (with_gap.dev, with_gap.test, with_gap.structure) == (
        plain.dev, plain.test, plain.structure,
    )  # fmt: skip


def test_structure_updates_set_the_search_length_and_are_recorded(tiny_bert_dir) -> None:
    result, along = _run(tiny_bert_dir, structure_updates=4)  # + 1 warm-up step
    assert result.config["search_steps"] == 5 and result.config["structure_updates"] == 4
    assert result.search_diagnostics["structure_updates"] == 4.0
    assert along[-1]["structure_updates"] == 4.0


def test_structure_updates_and_search_epochs_are_refused_together(tiny_bert_dir) -> None:
    from workers.trial import TrialSetupError

    with pytest.raises(TrialSetupError, match="keep one of them"):
        _run(tiny_bert_dir, structure_updates=4, search_epochs=1.0)
