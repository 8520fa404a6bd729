"""The contract of one trial: what goes in (`TrialConfig`), what comes out (`TrialResult`).

Kept apart from the training code so that the orchestrator can validate and record
configs without importing torch-heavy modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrialConfig(BaseModel):
    """Everything that decides a trial's outcome. Same config + same seed = same result on CPU."""

    model_config = ConfigDict(extra="forbid")

    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    task: str = "glue/sst2"
    method: str = "s3delta"
    budget: str | None = "0.01%"
    seed: int = 1
    space: Literal["M", "L"] = "M"
    data_dir: str | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    max_length: int = 128
    batch_size: int = 32
    # evaluation batches are length-sorted, so small batches pad least: 32 was fastest on
    # 1 CPU thread (benchmarks/results/trial_breakdown.json, eval_batch_sizes)
    eval_batch_size: int = 32
    # search phase (s3delta only) and retrain phase (every method)
    search_steps: int = 300
    retrain_steps: int = 300
    eval_every: int = 50
    # length in epochs instead of steps (set, they replace search_steps / retrain_steps once
    # the training split's size is known): retrain steps = ceil(epochs * |train| / batch),
    # search steps = ceil(epochs * |train| / 2 / batch) (the w half of the train split)
    search_epochs: float | None = None
    retrain_epochs: float | None = None
    # the search's length as what it is about: the number of gate (alpha) updates, one per
    # search step after the alpha warm-up. Set, it replaces search_steps (search_steps =
    # structure_updates + alpha_warmup_steps); the reference makes 1,350-5,110 of them
    structure_updates: int | None = None
    # score search-phase checkpoints on a seeded subset of dev (None = all of dev); the
    # retrain phase always selects on the whole dev split
    search_eval_examples: int | None = None
    delta_lr: float = 3e-3
    structure_lr: float = 0.1
    head_lr: float = 3e-3
    finetune_lr: float = 2e-4
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    beta: float = 1.0
    darts_order: Literal[1, 2] = 1
    rescale: bool = True
    gradient_projection: bool = False
    lora_scale: float = 1.0
    kind_lr: dict[str, float] = Field(default_factory=dict)  # lr multiplier per delta kind
    gate_temperature: float = 1.0
    # anneal the gate temperature geometrically to this value over the search (None = fixed)
    gate_temperature_final: float | None = None
    # w-only steps at the start of the search before alpha starts moving (0 = none)
    alpha_warmup_steps: int = 0
    # leave candidates larger than the budget out of the search's supernet: the greedy
    # discretisation can never keep them, yet in the search they hold expected budget
    # (at 0.002% of MiniLM, 75% of the space's parameters sit in such candidates)
    search_fittable_only: bool = False
    # at every search evaluation, also score the supernet cut to the structure the greedy
    # pick would take then (the discretisation gap along the search; one more dev pass per
    # evaluation). The gate concentration is logged at every evaluation regardless
    search_discrete_eval: bool = False
    # the adapter's bottleneck width for manual/adapter (None = the adapter kind's default,
    # search_space/deltas/adapter.py)
    adapter_width: int | None = None
    pooling: Literal["mean", "cls"] = "mean"
    select_on: Literal["score", "loss"] = "score"
    device: str = "auto"
    # "bf16": forward passes under torch.autocast(bfloat16); weights and optimisers stay fp32
    precision: Literal["fp32", "bf16"] = "fp32"
    # run the encoder's linears on real tokens only (workers/token_packing.py); same scores
    # up to rounding, so off only to measure what it saves
    pack_tokens: bool = True
    num_threads: int | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0  # steps; 0 = no checkpoints
    output_dir: str | None = None  # where structure/probabilities/delta weights are written
    cache_dir: str | None = None  # encoded-data cache shared by a sweep's trials (None = off)
    # one search, every budget: a search's logits.json (from an s3delta trial's folder); set,
    # s3delta does not search but re-solves that search's structure at this trial's budget
    # (search_space.rebudget). Set by the runner for a sweep's one_search_budget
    logits_from: str | None = None
    # transfer/<task>: the structure.json to retrain (the source task's s3delta run of the
    # same budget and seed; set by the runner)
    structure_from: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


@dataclass
class ProgressEvent:
    """One progress report: phase is 'search' or 'retrain'; metrics are named floats."""

    phase: str
    step: int
    total_steps: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrialResult:
    """What one trial produced. Scores are dicts metric -> value; sizes are parameter counts."""

    config: dict[str, Any]
    structure: dict[str, Any] | None  # Structure JSON (None for finetune)
    probabilities: dict[str, float] | None  # final p per candidate (s3delta only)
    expected_size_trajectory: list[tuple[int, float]]
    search_dev: dict[str, float]  # best search-phase dev scores (s3delta only)
    dev: dict[str, float]
    test: dict[str, float]
    dev_score: float
    test_score: float
    delta_params: int
    head_params: int
    backbone_params: int
    budget_params: int | None
    split_sizes: dict[str, int]
    wall_time_s: float
    device: str
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> file path
    # wall seconds per part of the trial (workers.timings.BUCKETS, plus other and wall)
    timings: dict[str, float] = field(default_factory=dict)
    # what the trial cost (workers.cost): cpu_s, gpu_s, peak_rss_mb, peak_gpu_mb (CUDA),
    # share_search/_retrain/_evaluation of wall time, cpu_<timing bucket>_s
    cost: dict[str, float] = field(default_factory=dict)
    # s3delta only: how decided the gates were (search_space.gate_diagnostics) and the dev
    # score of the searched supernet cut to the discrete structure (discrete_dev_score;
    # discretisation_gap = search dev score - discrete dev score, in score units)
    search_diagnostics: dict[str, float] = field(default_factory=dict)
    # identifiers a method records beside its structure (random-mask: mask_sha256)
    records: dict[str, str] = field(default_factory=dict)

    @property
    def budget_fraction(self) -> float:
        """Trainable delta parameters as a fraction of the backbone."""
        return self.delta_params / max(self.backbone_params, 1)
