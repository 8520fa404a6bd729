"""`SweepConfig.model_validate` alone refuses everything `load_sweep` refuses (issue 11, point 5).

Validation used to come in two passes: pydantic, then checks over the raw mapping that
only `load.validate_sweep` ran, so a `SweepConfig` built directly took a batch size of 0.
The rules now live in the model's validators; `load` only reads YAML and words errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.sweep import SweepValidationError
from orchestrator.sweep.config import SweepConfig
from orchestrator.sweep.load import validate_sweep
from orchestrator.sweep.yaml_source import read_yaml

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "malformed").glob("*.yaml")) + sorted((HERE / "hostile").glob("*.yaml"))


def _sweep(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "direct",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "tasks": ["glue/sst2"],
        "methods": ["random"],
        "budgets": ["0.01%"],
        "seeds": [1],
    }
    return {**base, **changes}


def _errors(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        SweepConfig.model_validate(data)
    return [(tuple(item["loc"]), item["msg"]) for item in caught.value.errors()]


def test_model_validate_refuses_bad_training_values() -> None:
    errors = _errors(_sweep(training={"batch_size": 0, "delta_lr": "3e-3", "pooling": "max"}))
    assert (("training", "batch_size"), "got 0; it must be at least 1") in errors
    assert (("training", "delta_lr"), "got '3e-3'; it must be a number") in errors
    assert any(loc == ("training", "pooling") for loc, _ in errors)
    assert len(errors) == 3


def test_model_validate_refuses_unknown_and_misplaced_training_keys() -> None:
    errors = dict(_errors(_sweep(training={"batch_sise": 8, "seed": 3})))
    assert errors[("training", "batch_sise")].startswith("unknown training setting; allowed:")
    assert "is one of the sweep's axes" in errors[("training", "seed")]


def test_model_validate_applies_the_rules_across_sections_with_field_errors() -> None:
    """A cross-section rule is reported beside a field error, not only once fields pass."""
    errors = dict(_errors(_sweep(seeds=[1, 1], optuna={"sampler": "nsga2", "objective": "score"})))
    assert ("seeds",) in errors
    assert "sampler nsga2 trades off two objectives" in errors[("optuna", "objective")]
    errors = dict(_errors(_sweep(methods=["s3delta"], budgets=[])))
    assert "search under a parameter budget but budgets is empty" in errors[("budgets",)]


def test_model_validate_refuses_non_finite_numbers_and_misfit_ranges() -> None:
    errors = dict(
        _errors(
            _sweep(
                training={"extra": {"x": float("nan")}},
                search_space={"batch_size": {"distribution": "uniform", "min": 8, "max": 32}},
            )
        )
    )
    assert "not a finite number" in errors[("training", "extra", "x")]
    assert "takes whole numbers" in errors[("search_space", "batch_size", "distribution")]


def test_model_validate_runs_the_setup_checks_on_an_otherwise_valid_sweep() -> None:
    errors = dict(_errors(_sweep(training={"device": "cuda"})))
    assert "resources.gpus_per_trial is 0" in errors[("training", "device")]


def test_a_valid_mapping_holds_values_as_trials_do_and_ignores_x_keys() -> None:
    sweep = SweepConfig.model_validate(
        _sweep(**{"x-shared": {"anything": 1}}, training={"delta_lr": 1, "batch_size": 8})
    )
    assert sweep.training == {"delta_lr": 1.0, "batch_size": 8}
    assert isinstance(sweep.training["delta_lr"], float)


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.stem}" for p in CORPUS])
def test_model_validate_alone_refuses_every_file_load_refuses(path: Path) -> None:
    """Files refused by the YAML reader, or (stores) only by the CLI, have no model step."""
    try:
        raw = read_yaml(path)
    except SweepValidationError:
        return
    try:
        validate_sweep(raw, base_dir=path.parent, source=str(path))
    except SweepValidationError:
        pass
    else:
        return
    context = {"base_dir": path.parent.resolve(), "source": str(path)}
    with pytest.raises(ValidationError):
        SweepConfig.model_validate(raw, context=context)
