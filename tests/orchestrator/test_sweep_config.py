"""Sweep files: the malformed corpus, plan counts, path resolution, Optuna sampling, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.sweep import (
    SweepValidationError,
    build_plan,
    config_for,
    load_sweep,
    parse_sweep,
    suggest_config,
)
from orchestrator.sweep.distributions import Categorical, LogUniform

HERE = Path(__file__).parent
REPO = HERE.parent.parent
MALFORMED = sorted((HERE / "malformed").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
PROBLEM_LINE = re.compile(
    r"^(\(top level\)|\(yaml syntax\)|\(file\)|[a-z_]+(\[\d+\])?(\.[a-z_]+|\[\d+\])*)[^:]*: \S"
)


def _expected(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect:").strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect:")
    ]


def test_corpus_is_large_and_annotated() -> None:
    assert len(MALFORMED) >= 30
    assert all(_expected(path) for path in MALFORMED), "every corpus file needs a '# expect:' line"


@pytest.mark.parametrize("path", MALFORMED, ids=[path.stem for path in MALFORMED])
def test_malformed_sweep_is_rejected_with_path_and_fix(path: Path) -> None:
    with pytest.raises(SweepValidationError) as caught:
        load_sweep(path)
    problems = caught.value.problems
    text = "\n".join(problems)
    for expected in _expected(path):
        assert expected in text, f"{path.name}: {expected!r} not in:\n{text}"
    for line in problems:
        assert PROBLEM_LINE.match(line), f"not '<yaml.path>: <problem>': {line!r}"
        assert "\n" not in line
    assert str(path) in str(caught.value)


def test_many_problems_are_reported_together_in_file_order() -> None:
    problems = _problems_of(HERE / "malformed" / "many_problems_at_once.yaml")
    assert len(problems) == 5
    heads = [line.split(":")[0].split(".")[0].split("[")[0] for line in problems]
    assert heads == ["tasks", "budgets", "training", "resources", "optuna"]


def _problems_of(path: Path) -> list[str]:
    with pytest.raises(SweepValidationError) as caught:
        load_sweep(path)
    return caught.value.problems


MIXED = """
name: mixed
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2, glue/cola]
methods: [s3delta, random, manual/lora-qv-r1, finetune]
budgets: ["0.01%", "0.03%", 20000]
seeds: [1, 2, 3]
training: {max_train_examples: 2000, search_steps: 200, retrain_steps: 200, batch_size: 32}
search_space:
  delta_lr: {distribution: log_uniform, min: 1e-4, max: 3e-2}
  structure_lr: {distribution: log_uniform, min: 0.01, max: 0.3}
  beta: {values: [0.5, 1.0]}
  darts_order: {values: [1, 2]}
  search_steps: {distribution: int, min: 100, max: 400, step: 50}
  head_lr: {value: 0.005}
optuna: {sampler: tpe, seed: 0, trials_per_cell: 8}
"""


def test_plan_counts_cells_trials_and_final_runs(tmp_path: Path) -> None:
    plan = build_plan(parse_sweep(MIXED, tmp_path))
    # per task: 2 budgeted methods x 3 budgets + 2 budget-free methods = 8 cells
    assert len(plan.cells) == 16
    # finetune (2 cells) has nothing to tune in this space (its lr is not in it)
    assert plan.tuning_trials == 14 * 8
    assert plan.final_runs == 16 * 3
    assert plan.total_trials == 14 * 8 + 16 * 3
    free = [cell for cell in plan.cells if cell.budget is None]
    assert sorted({cell.method for cell in free}) == ["finetune", "manual/lora-qv-r1"]
    assert len(free) == 4
    assert [c.budget for c in plan.cells if c.task == "glue/sst2" and c.method == "random"] == [
        "0.01%",
        "0.03%",
        "20000",
    ]
    assert any("one cell per task" in note for note in plan.notes)
    totals = plan.to_dict()["totals"]
    assert totals == {"cells": 16, "tuning_trials": 112, "final_runs": 48, "total_trials": 160}


def test_plan_tunes_only_fields_that_affect_the_method(tmp_path: Path) -> None:
    cells = {(c.method, c.budget): c for c in build_plan(parse_sweep(MIXED, tmp_path)).cells}
    s3delta = cells[("s3delta", "0.01%")]
    assert s3delta.tuned_params == (
        "delta_lr",
        "structure_lr",
        "beta",
        "darts_order",
        "search_steps",
    )
    assert cells[("random", "0.01%")].tuned_params == ("delta_lr",)
    # finetune trains no delta modules: nothing of this space applies, so no tuning trials
    assert cells[("finetune", None)].tuned_params == ()
    assert cells[("finetune", None)].n_tune_trials == 0


def test_plan_renders_a_table_and_json(tmp_path: Path) -> None:
    plan = build_plan(parse_sweep(MIXED, tmp_path))
    text = plan.render()
    assert "manual/lora-qv-r1" in text and "none" in text
    assert "tuning trials: 112" in text and "estimated trials: 160" in text
    again = json.loads(json.dumps(plan.to_dict()))
    assert again["cells"][0]["key"] == "glue/sst2|s3delta|0.01%"
    free = [cell for cell in again["cells"] if cell["budget"] is None]
    assert {cell["key"].split("|")[-1] for cell in free} == {"none"}  # one spelling


TINY_STRUCTURE = {
    "format": "s3delta.structure",
    "version": 1,
    "backbone": "m",
    "backbone_params": 1000,
    "entries": [{"path": "encoder.layer.0.output.LayerNorm", "kind": "lnfit", "size": 768}],
}


def test_relative_paths_and_urls_become_absolute(tmp_path: Path) -> None:
    rte = tmp_path / "data" / "glue" / "RTE"
    rte.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):
        (rte / name).write_text("index\tsentence1\tsentence2\tlabel\n")
    structure = tmp_path / "structures" / "best.json"
    structure.parent.mkdir()
    structure.write_text(json.dumps(TINY_STRUCTURE))
    sweep_file = tmp_path / "sweeps" / "paths.yaml"
    sweep_file.parent.mkdir()
    sweep_file.write_text(
        "model: m\ntasks: [glue/rte]\nseeds: [1]\n"
        "data_dir: ../data\n"
        "methods: [manual/../structures/best.json]\n"
        "optuna: {storage: 'sqlite:///state/optuna.db'}\n"
        "mlflow: {tracking_uri: 'sqlite:///../mlflow.db'}\n"
        "run_dir: ../runs/here\n"
    )
    sweep = load_sweep(sweep_file)
    assert sweep.name == "paths"  # from the file name
    assert sweep.data_dir == str(tmp_path / "data")
    assert sweep.methods == [f"manual/{structure}"]
    assert sweep.optuna.storage == f"sqlite:///{tmp_path / 'sweeps' / 'state' / 'optuna.db'}"
    assert sweep.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert sweep.run_dir == str(tmp_path / "runs" / "here")
    assert sweep.storage_url == sweep.optuna.storage


def test_defaults_follow_the_runner(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S3DELTA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("S3DELTA_OPTUNA_STORAGE", raising=False)
    sweep = parse_sweep(MIXED + "run_dir: out\n", tmp_path)
    assert sweep.tracking_uri == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert sweep.storage_url == f"sqlite:///{tmp_path / 'out' / 'optuna.db'}"
    unset = parse_sweep(MIXED, tmp_path)
    assert unset.run_dir is None and unset.run_path == tmp_path / "home" / unset.name
    assert sweep.pruning.enabled is True  # default on for a single objective


def test_exponent_floats_are_numbers_and_values_take_field_types(tmp_path: Path) -> None:
    text = MIXED.replace("beta: {values: [0.5, 1.0]}", "beta: {values: [1, 5e-1]}")
    sweep = parse_sweep(text, tmp_path)
    delta_lr = sweep.search_space["delta_lr"]
    assert isinstance(delta_lr, LogUniform) and delta_lr.min == pytest.approx(1e-4)
    beta = sweep.search_space["beta"]
    assert isinstance(beta, Categorical)
    assert beta.values == [1.0, 0.5] and all(isinstance(v, float) for v in beta.values)
    lax = parse_sweep(MIXED.replace("batch_size: 32}", "batch_size: 32, head_lr: 1}"), tmp_path)
    assert isinstance(lax.training["head_lr"], float)


def test_nsga2_score_vs_size_is_valid_and_turns_pruning_off(tmp_path: Path) -> None:
    text = MIXED.replace(
        "optuna: {sampler: tpe, seed: 0, trials_per_cell: 8}",
        "optuna: {sampler: nsga2, objective: score_vs_size, trials_per_cell: 4}",
    )
    sweep = parse_sweep(text, tmp_path)
    assert sweep.pruning.enabled is False
    assert "no pruning" in build_plan(sweep).render()


def test_suggest_config_samples_within_the_search_space(tmp_path: Path) -> None:
    sweep = parse_sweep(MIXED, tmp_path)
    cell = next(c for c in build_plan(sweep).cells if c.method == "s3delta" and c.budget == "0.03%")
    configs = []

    def objective(trial: optuna.Trial) -> float:
        config = suggest_config(trial, sweep, cell)
        configs.append(config)
        return config.delta_lr

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=12)
    for config in configs:
        assert 1e-4 <= config.delta_lr <= 3e-2
        assert 0.01 <= config.structure_lr <= 0.3
        assert config.beta in (0.5, 1.0)
        assert config.darts_order in (1, 2)
        assert config.search_steps in range(100, 401, 50)
        assert (config.task, config.method, config.budget, config.seed) == (
            "glue/sst2",
            "s3delta",
            "0.03%",
            1,
        )
        assert config.head_lr == 0.005  # a constant applies without being tuned
        assert config.max_train_examples == 2000 and config.retrain_steps == 200
    assert set(study.best_params) == set(cell.tuned_params)
    assert len({round(c.delta_lr, 8) for c in configs}) > 6  # really sampled


def test_config_for_final_runs_uses_best_params_and_each_seed(tmp_path: Path) -> None:
    sweep = parse_sweep(MIXED, tmp_path)
    cell = next(c for c in build_plan(sweep).cells if c.method == "finetune")
    final = [config_for(sweep, cell, seed) for seed in cell.seeds]
    assert [c.seed for c in final] == [1, 2, 3]
    assert all(c.budget is None and c.method == "finetune" for c in final)
    random_cell = next(c for c in build_plan(sweep).cells if c.method == "random")
    assert config_for(sweep, random_cell, 2, {"delta_lr": 0.01}).delta_lr == 0.01
    with pytest.raises(ValueError, match="structure_lr"):
        config_for(sweep, random_cell, 2, {"structure_lr": 0.1})


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_examples_validate(path: Path) -> None:
    plan = build_plan(load_sweep(path))
    assert plan.total_trials > 0


def test_quickstart_stays_small() -> None:
    sweep = load_sweep(REPO / "examples" / "quickstart.yaml")
    plan = build_plan(sweep)
    assert plan.total_trials <= 12
    assert sweep.training["search_steps"] + sweep.training["retrain_steps"] <= 100
    assert sweep.resources.cpus_per_trial * (sweep.resources.max_concurrent or 1) <= 2
    assert sweep.model == "sentence-transformers/all-MiniLM-L6-v2"


runner = CliRunner()


def test_cli_validate_prints_the_plan() -> None:
    result = runner.invoke(app, ["validate", str(REPO / "examples" / "quickstart.yaml")])
    assert result.exit_code == 0, result.output
    assert "glue/sst2" in result.stdout and "estimated trials: 8" in result.stdout


def test_cli_validate_json() -> None:
    result = runner.invoke(app, ["validate", str(REPO / "examples" / "quickstart.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["total_trials"] == 8


def test_cli_validate_rejects_a_malformed_file_with_exit_2() -> None:
    path = HERE / "malformed" / "many_problems_at_once.yaml"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "5 problems" in result.stderr
    assert "budgets[0]: budget '0%' must be greater than zero" in result.stderr
    assert result.stdout == ""


def test_cli_validate_missing_file() -> None:
    result = runner.invoke(app, ["validate", "no/such/sweep.yaml"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
