"""Issue 10, search settings: temperature annealing, alpha warm-up, epochs, gate diagnostics."""

from __future__ import annotations

import itertools
import math

import pytest

from search_space.gate_diagnostics import gate_concentration
from search_space.gates import annealed_temperature
from tests.conftest import SHARED_DATA
from workers.trial import TrialSetupError, run_trial
from workers.trial_types import TrialConfig

needs_data = pytest.mark.skipif(
    not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data"
)


def test_annealed_temperature_is_geometric_from_start_to_end():
    assert annealed_temperature(1.0, None, 5, 10) == 1.0
    assert annealed_temperature(1.0, 0.1, 1, 11) == pytest.approx(1.0)
    assert annealed_temperature(1.0, 0.1, 11, 11) == pytest.approx(0.1)
    # halfway (step 6 of 11) is the geometric mean sqrt(1 * 0.1)
    assert annealed_temperature(1.0, 0.1, 6, 11) == pytest.approx(math.sqrt(0.1))


def test_gate_concentration_by_hand():
    # sizes 100, 300, 600; p 0.9, 0.5, 0.1 -> masses 90, 150, 60 (total 300)
    d = gate_concentration([0.9, 0.5, 0.1], [100, 300, 600])
    assert d["share_p_gt_half"] == pytest.approx(90 / 300)  # only p=0.9 is > 0.5
    q = [0.3, 0.5, 0.2]
    assert d["entropy"] == pytest.approx(-sum(x * math.log(x) for x in q) / math.log(3))
    assert d["top_p"] == 0.9
    one = gate_concentration([1.0, 0.0], [5, 5])
    assert one["share_p_gt_half"] == 1.0 and one["entropy"] == 0.0
    even = gate_concentration([0.2] * 4, [10] * 4)
    assert even["share_p_gt_half"] == 0.0 and even["entropy"] == pytest.approx(1.0)


def _cfg(model_dir, **kw) -> TrialConfig:
    base = dict(
        model=str(model_dir), task="glue/sst2", method="s3delta", budget="0.1%", seed=3,
        data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32, max_length=24,
        batch_size=8, search_steps=6, retrain_steps=4, eval_every=3, num_threads=1, delta_lr=1e-2,
    )
    base.update(kw)
    return TrialConfig(**base)


@needs_data
def test_diagnostics_anneal_and_warmup_are_recorded(tiny_bert_dir):
    events = []
    r = run_trial(
        _cfg(tiny_bert_dir, gate_temperature_final=0.1, alpha_warmup_steps=2), events.append
    )
    d = r.search_diagnostics
    assert set(d) == {
        "share_p_gt_half", "entropy", "top_p", "discrete_dev_score", "discretisation_gap",
        "structure_updates",
    }  # fmt: skip
    assert 0 <= d["share_p_gt_half"] <= 1 and 0 <= d["entropy"] <= 1
    assert d["discretisation_gap"] == pytest.approx(r.search_dev["accuracy"] - d["discrete_dev_score"])
    search = [e for e in events if e.phase == "search"]
    temps = [e.metrics["gate_temperature"] for e in search]
    assert temps[0] == pytest.approx(1.0) and temps[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(temps))
    # no alpha step (no alpha_loss) during the 2 warm-up steps, one at every later step
    assert ["alpha_loss" in e.metrics for e in search] == [False, False, True, True, True, True]


@needs_data
def test_epochs_set_the_steps(tiny_bert_dir):
    r = run_trial(_cfg(tiny_bert_dir, method="random", retrain_epochs=0.5, retrain_steps=999))
    assert r.config["retrain_steps"] == math.ceil(0.5 * 64 / 8)  # 4
    s = run_trial(_cfg(tiny_bert_dir, search_epochs=1.0, retrain_epochs=0.25))
    assert s.config["search_steps"] == math.ceil(32 / 8) and s.config["retrain_steps"] == 2
    assert len(s.expected_size_trajectory) == 4


def test_bad_search_settings_fail_before_work():
    with pytest.raises(TrialSetupError, match="alpha_warmup_steps"):
        run_trial(TrialConfig(search_steps=10, alpha_warmup_steps=10))
    with pytest.raises(TrialSetupError, match="gate_temperature_final"):
        run_trial(TrialConfig(gate_temperature_final=0.0))
    with pytest.raises(TrialSetupError, match="retrain_epochs"):
        run_trial(TrialConfig(retrain_epochs=float("inf")))


@needs_data
def test_a_diverging_trial_fails_with_a_clear_reason(tiny_bert_dir):
    with pytest.raises(FloatingPointError, match="diverged"):
        run_trial(_cfg(tiny_bert_dir, method="random", delta_lr=1e30, head_lr=1e30, grad_clip=0.0))


@needs_data
def test_fittable_only_leaves_big_candidates_out_of_the_search(tiny_bert_dir):
    r = run_trial(_cfg(tiny_bert_dir, budget="60", search_fittable_only=True, search_steps=2))
    full = run_trial(_cfg(tiny_bert_dir, budget="60", search_steps=2))
    assert full.probabilities and r.probabilities
    assert len(r.probabilities) < len(full.probabilities)
    sizes = {e["path"] + ":" + e["kind"]: e["size"] for e in (r.structure or {})["entries"]}
    assert all(size <= 60 for size in sizes.values())
    # every candidate left in the search fits the budget on its own: 32-wide vectors here
    assert all(name.split(":")[1] in ("bitfit", "lnfit") for name in r.probabilities)
