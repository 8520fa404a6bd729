"""The contract of one subspace experiment: `SubspaceConfig` in, `SubspaceResult` out.

Kept apart from the training code so that the orchestrator can validate and record
configs without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SubspaceConfig(BaseModel):
    """Everything that decides an experiment's outcome; same config + seed = same result on CPU."""

    model_config = ConfigDict(extra="forbid")

    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    task: str = "glue/sst2"
    seed: int = 1
    data_dir: str | None = None
    # the DETs and their common size (each DET's knob is chosen to come closest to it)
    dets: tuple[str, ...] = ("adapter", "lora", "prefix")
    target_size: int = 69_120
    size_tolerance: float = 0.01
    d: int = 4
    # stage 0: each DET trained in its own space (delta and head learning rates)
    stage0_steps: int = 300
    stage0_lr: float = 3e-3
    head_lr: float = 3e-3
    batch_size: int = 32
    eval_every: int = 50
    # stage 1: encoders and decoders; loss sum_k recon_weight*||theta_k - dec_k(P_k)||
    # + task_loss(dec_k(P_mix)). decoder_init "fit" starts D_k at the least-norm exact
    # reconstruction of theta_k (where reconstruction-only training converges); "random"
    # keeps PyTorch's default init, as the paper's 100k-iteration runs can afford.
    stage1_steps: int = 300
    stage1_lr: float = 1e-3
    stage1_batch_size: int = 8
    recon_weight: float = 0.1
    decoder_init: Literal["fit", "random"] = "fit"
    # stage 2: v in R^d through one decoder, best v on dev
    stage2_steps: int = 200
    stage2_lr: float = 1e-2
    stage2_batch_size: int = 8
    stage2_eval_every: int = 25
    # Optuna (TPE, seeded) may tune the stage-2 lr per DET on dev: stage2_lr_trials runs of
    # stage 2 with lr drawn log-uniformly from stage2_lr_range; 0 trials = use stage2_lr
    stage2_lr_trials: int = 0
    stage2_lr_range: tuple[float, float] | None = None
    # the landscape: grid_size x grid_size points (0 = none), scored on dev examples
    grid_size: int = 7
    grid_margin: float = 0.25
    grid_eval_examples: int | None = 200
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    max_length: int = 128
    eval_batch_size: int = 32
    grad_clip: float = 2.0
    pooling: Literal["mean", "cls"] = "mean"
    device: str = "auto"
    num_threads: int | None = None
    output_dir: str | None = None
    cache_dir: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


@dataclass
class DetOutcome:
    """One DET: its size, its own-space score and its score when optimised in the subspace."""

    name: str
    knob: str  # width / rank / tokens
    value: int
    delta_size: int
    head_size: int
    theta_size: int  # delta + head: what the subspace reconstructs
    original_dev: float
    original_test: float
    subspace_dev: float
    subspace_test: float
    original_metrics: dict[str, float] = field(default_factory=dict)  # test metrics
    subspace_metrics: dict[str, float] = field(default_factory=dict)  # test metrics

    @property
    def subspace_pct(self) -> float:
        """Subspace test score as % of the DET's own-space test score."""
        return percent(self.subspace_test, self.original_test)


def percent(score: float, reference: float) -> float:
    return 100.0 * score / reference if reference else float("nan")


@dataclass
class SubspaceResult:
    """What one experiment produced. Scores are the task's primary score (mean of its
    official metrics); "test" is the protocol's reporting split, selection used dev."""

    config: dict[str, Any]
    dets: list[DetOutcome]
    d: int
    # transfer_test[i][j]: v found through DET i's decoder, decoded by DET j's (no training)
    transfer_test: list[list[float]]
    points: list[list[float]]  # P_k, (K, d)
    v: list[list[float]]  # v*_k found through each DET's decoder, (K, d)
    grid: dict[str, Any]  # axes, scores per DET (dev), plane and point coordinates
    stages: dict[str, Any]  # stage-1 losses and reconstruction errors, stage-0/2 best steps, lrs
    split_sizes: dict[str, int]
    wall_time_s: float
    device: str
    artifacts: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dets]

    @property
    def transfer_pct(self) -> list[list[float]]:
        """transfer_test as % of the *target* DET's own-space test score."""
        own = [d.original_test for d in self.dets]
        return [[percent(s, own[j]) for j, s in enumerate(row)] for row in self.transfer_test]

    @property
    def subspace_pct_mean(self) -> float:
        return sum(d.subspace_pct for d in self.dets) / len(self.dets)

    @property
    def transfer_pct_mean(self) -> float:
        """Mean over the off-diagonal pairs (source != target)."""
        pct = self.transfer_pct
        off = [pct[i][j] for i in range(len(pct)) for j in range(len(pct)) if i != j]
        return sum(off) / len(off)
