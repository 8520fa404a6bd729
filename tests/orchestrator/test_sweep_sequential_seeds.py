"""``seeds: {start, max, until: decided, margin, baseline}`` in a sweep file (issue 22).

The mapping is validated with the rest of the file (every problem at ``seeds.<key>``,
one line each; the corpus files ``malformed/seeds_*.yaml`` hold one problem each), a
plain list keeps its meaning, and `SequentialSeeds.step` is what the driver calls after
a pair of seeds finishes. The statistics themselves are tested in
test_sequential_seeds.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.sweep import SweepValidationError, build_plan, parse_sweep
from orchestrator.sweep.config import SweepConfig
from orchestrator.sweep.sequential_seeds import SequentialSeeds
from orchestrator.sweep.subspace_config import SubspaceSweepConfig

SWEEP = """
name: until-decided
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2]
methods: [s3delta, random, manual/lnfit]
budgets: ["0.01%", "0.05%"]
seeds: {seeds}
training: {{max_train_examples: 500, search_steps: 30, retrain_steps: 30}}
optuna: {{sampler: tpe, seed: 0, trials_per_cell: 2}}
"""
SEQUENTIAL = "{start: [1, 2, 3], max: 12, until: decided, margin: 1.0, baseline: random}"


def _sweep(tmp_path: Path, seeds: str) -> SweepConfig:
    return parse_sweep(SWEEP.format(seeds=seeds), tmp_path)


def _problems(tmp_path: Path, seeds: str, **replace: str) -> list[str]:
    text = SWEEP.format(seeds=seeds)
    for old, new in replace.items():
        text = text.replace(old, new)
    with pytest.raises(SweepValidationError) as caught:
        parse_sweep(text, tmp_path)
    return caught.value.problems


def test_the_mapping_starts_cells_with_its_start_seeds(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, SEQUENTIAL)
    sequential = sweep.sequential_seeds
    assert sequential == SequentialSeeds(
        start=[1, 2, 3], max=12, until="decided", margin=1.0, baseline="random"
    )
    assert sweep.seeds == [1, 2, 3]
    assert sequential.schedule() == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    plan = build_plan(sweep)
    assert {cell.seeds for cell in plan.cells} == {(1, 2, 3)}


def test_a_plain_list_keeps_its_meaning(tmp_path: Path) -> None:
    plain = _sweep(tmp_path, "[1, 2, 3]")
    assert plain.sequential_seeds is None and plain.seeds == [1, 2, 3]
    sequential = _sweep(tmp_path, SEQUENTIAL)
    # the plan a sequential sweep starts from is the plain sweep's with its start seeds,
    # plus one note saying how seeds are added
    a, b = build_plan(plain).to_dict(), build_plan(sequential).to_dict()
    added = [n for n in b["notes"] if n not in a["notes"]]
    assert len(added) == 1 and added[0].startswith("seeds until decided: ")
    b["notes"] = [n for n in b["notes"] if n not in added]
    assert json.dumps(a) == json.dumps(b)


def test_baseline_defaults_to_random_and_margin_may_be_whole_or_zero(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, "{start: [5, 9], max: 4, until: decided, margin: 0}")
    assert sweep.sequential_seeds is not None
    assert (sweep.sequential_seeds.baseline, sweep.sequential_seeds.margin) == ("random", 0.0)
    assert sweep.sequential_seeds.schedule() == (5, 9, 10, 11)
    manual = _sweep(tmp_path, SEQUENTIAL.replace("baseline: random", "baseline: manual/lnfit"))
    assert manual.sequential_seeds is not None
    assert manual.sequential_seeds.baseline == "manual/lnfit"


def test_mapping_problems_are_reported_with_the_others(tmp_path: Path) -> None:
    """Problems of the mapping and of other sections come together, in file order."""
    problems = _problems(
        tmp_path,
        "{start: [1, 2, 3], max: 2, until: decided, margin: -1, baseline: manual/bitfit}",
        **{"tasks: [glue/sst2]": "tasks: [glue/nope]"},
    )
    heads = [line.split(":")[0] for line in problems]
    assert heads == ["tasks[0]", "seeds.margin", "seeds.max", "seeds.baseline"], problems
    # a field error of the mapping does not also report `seeds` itself
    problems = _problems(tmp_path, "{start: [1], max: 20, until: decided, margin: 1.0}")
    assert [line.split(":")[0] for line in problems] == ["seeds.start"]


def test_model_validate_alone_refuses_a_bad_mapping() -> None:
    data: dict[str, Any] = {
        "name": "direct",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "tasks": ["glue/sst2"],
        "methods": ["s3delta", "random"],
        "budgets": ["0.01%"],
        "seeds": {"start": [1, 2, 3], "max": 2, "until": "soon", "margin": 1.0},
    }
    with pytest.raises(ValidationError) as caught:
        SweepConfig.model_validate(data)
    locs = {tuple(item["loc"]) for item in caught.value.errors()}
    assert locs == {("seeds", "until"), ("seeds", "max")}
    data["seeds"] = {**data["seeds"], "max": 3, "until": "decided"}
    assert SweepConfig.model_validate(data).sequential_seeds is not None


def test_the_limit_on_seeds_counts_max(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, SEQUENTIAL)
    assert sweep.sequential_seeds is not None and sweep.sequential_seeds.max == 12
    assert sweep._setup_problems() == []


def test_a_subspace_sweep_takes_a_plain_list_only() -> None:
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "tasks": ["glue/sst2"],
        "seeds": {"start": [1, 2], "max": 4, "until": "decided", "margin": 1.0},
        "subspace": {},
    }
    with pytest.raises(ValidationError) as caught:
        SubspaceSweepConfig.model_validate(data)
    assert ("seeds",) in {tuple(item["loc"]) for item in caught.value.errors()}


def test_step_tells_the_driver_what_to_run_next(tmp_path: Path) -> None:
    sequential = _sweep(tmp_path, SEQUENTIAL).sequential_seeds
    assert sequential is not None
    pending = sequential.step({1: 0.81, 2: 0.80}, {1: 0.80, 2: 0.80, 3: 0.79})
    assert (pending.verdict, pending.interval, pending.next_seed) == ("undecided", None, None)
    noisy = sequential.step({1: 0.81, 2: 0.80, 3: 0.78}, {1: 0.80, 2: 0.81, 3: 0.79})
    assert noisy.verdict == "undecided" and noisy.next_seed == 4 and noisy.n_pairs == 3
    clear = {seed: 0.82 + 0.001 * (seed % 3) for seed in range(1, 13)}
    base = {seed: 0.80 for seed in range(1, 13)}
    done = sequential.step(clear, base)
    assert done.verdict == "better" and done.next_seed is None and 3 < done.n_pairs <= 12
    assert done.interval is not None and done.interval[0] > 0
