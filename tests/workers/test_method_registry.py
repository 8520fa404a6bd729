"""Adding a method is one class and one `register` line: a toy method, end to end.

The toy method ``first/<kind>`` keeps the first candidate of one delta kind (module order)
that fits the budget. Registered here like a built-in method, it must be parsed, validated
in a sweep, planned (one cell per budget, only its own fields tuned) and run as a real
trial whose structure is exactly that candidate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from orchestrator.sweep import SweepValidationError, build_plan, parse_sweep
from tests.conftest import SHARED_DATA
from workers.methods import (
    DELTA_FIELDS,
    Found,
    Method,
    MethodSpec,
    UnknownMethodError,
    applies_to,
    method_help,
    parse_method,
    register,
    structure_file,
    unregister,
    with_structure_file,
)
from workers.trial import run_trial
from workers.trial_types import TrialConfig

if TYPE_CHECKING:
    import torch

    from workers.trial_context import TrialContext


class FirstOfKind(MethodSpec):
    """``first/<kind>``: the first candidate of ``<kind>`` that fits the budget."""

    family = "first"
    uses_budget = True
    takes_arg = True
    fields = DELTA_FIELDS

    def parse_arg(self, name: str, arg: str, check_files: bool, help_text: str) -> Method:
        if not arg.isalpha():
            raise UnknownMethodError(f"method {name!r}: give a delta kind, e.g. 'first/lnfit'")
        return Method(self, name, arg)

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        from workers.methods.candidates import space_at_budget, structure_of

        space = space_at_budget(ctx, backbone)
        fitting = [c for c in space.candidates if c.kind == method.arg and c.size <= space.budget]
        if not fitting:
            raise ValueError(f"no {method.arg} candidate fits {space.budget} parameters")
        return structure_of(ctx, method, space, fitting[:1]), {"first": fitting[0].name}


@pytest.fixture
def toy() -> Iterator[MethodSpec]:
    spec = register(FirstOfKind())
    try:
        yield spec
    finally:
        unregister(spec.family)


def test_a_registered_method_is_parsed_and_listed(toy: MethodSpec) -> None:
    method = parse_method("first/lnfit")
    assert (method.spec, method.arg, method.uses_budget) == (toy, "lnfit", True)
    assert "'first/<argument>'" in method_help()
    with pytest.raises(UnknownMethodError, match="give a delta kind"):
        parse_method("first/9")
    with pytest.raises(UnknownMethodError, match="unknown method 'first'"):
        parse_method("first")  # takes an argument
    # its own fields are tuned, the search's are not; fields no method claims apply to all
    assert applies_to("delta_lr", method) and not applies_to("structure_lr", method)
    assert applies_to("head_lr", method) and not applies_to("finetune_lr", method)
    # only methods that name a structure file have one for the sweep to resolve and check
    assert structure_file("first/lnfit") is None and structure_file("manual/lnfit") is None
    assert structure_file("manual/sub/x.json") == "sub/x.json"
    assert with_structure_file("manual/x.json", lambda p: "/abs/" + p) == "manual//abs/x.json"


class _Again(MethodSpec):
    family = "random"

    def structure(self, ctx: TrialContext, method: Method, backbone: torch.nn.Module) -> Found:
        raise AssertionError("never run")


def test_unregistered_it_is_unknown_and_families_are_unique() -> None:
    with pytest.raises(UnknownMethodError, match="unknown method 'first/lnfit'"):
        parse_method("first/lnfit")
    with pytest.raises(ValueError, match="already registered"):
        register(_Again())


SWEEP = """
name: toy
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2]
methods: [first/lnfit, random, finetune]
budgets: ["0.01%", 20000]
seeds: [1, 2]
search_space:
  delta_lr: {distribution: log_uniform, min: 1e-4, max: 3e-2}
  structure_lr: {distribution: log_uniform, min: 0.01, max: 0.3}
optuna: {trials_per_cell: 3}
"""


def test_the_sweep_validates_and_plans_the_toy_method(toy: MethodSpec, tmp_path) -> None:
    plan = build_plan(parse_sweep(SWEEP, tmp_path))
    toy_cells = [c for c in plan.cells if c.method == "first/lnfit"]
    assert [c.budget for c in toy_cells] == ["0.01%", "20000"]  # budgeted: a cell per budget
    assert all(c.tuned_params == ("delta_lr",) for c in toy_cells)
    with pytest.raises(SweepValidationError, match="give a delta kind"):
        parse_sweep(SWEEP.replace("first/lnfit", "first/9"), tmp_path)


def test_without_registration_the_sweep_is_refused(tmp_path) -> None:
    with pytest.raises(SweepValidationError, match="unknown method 'first/lnfit'"):
        parse_sweep(SWEEP, tmp_path)


@pytest.mark.skipif(not (SHARED_DATA / "glue" / "SST-2").is_dir(), reason="needs shared/data")
def test_the_toy_method_runs_a_real_trial(toy: MethodSpec, tiny_bert_dir, tmp_path) -> None:
    cfg = TrialConfig(
        model=str(tiny_bert_dir), task="glue/sst2", method="first/lnfit", budget="0.1%",
        seed=3, data_dir=str(SHARED_DATA), max_train_examples=64, max_eval_examples=32,
        max_length=24, batch_size=8, eval_batch_size=32, retrain_steps=4, eval_every=2,
        num_threads=1, delta_lr=1e-2, output_dir=str(tmp_path),
    )  # fmt: skip
    result = run_trial(cfg)
    assert result.structure is not None
    entries = result.structure["entries"]
    assert [e["kind"] for e in entries] == ["lnfit"]
    assert result.structure["meta"]["method"] == "first/lnfit"
    assert 0 < result.delta_params == entries[0]["size"] <= (result.budget_params or 0)
    saved = json.loads((tmp_path / "structure.json").read_text())
    assert saved["entries"][0]["path"] == entries[0]["path"]
    assert set(result.artifacts) == {"structure.json", "delta.safetensors"}
    assert 0.0 <= result.dev_score <= 1.0 and 0.0 <= result.test_score <= 1.0
