"""The Optuna study of one sweep cell: sampler, pruner, storage, and what "best" means.

Why the driver owns it: only the driver talks to the study storage (SQLite locally,
PostgreSQL on a cluster), so there is one writer and no lock contention; trials send
intermediate dev scores through the progress hub and the driver reports them here.
"""

from __future__ import annotations

import zlib
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from orchestrator.paths import redact_url
from orchestrator.runner.store_retry import retry_storage
from orchestrator.runner.trial_sampler import TrialSeededSampler

CONFIG_ATTR = "s3delta.config"
KEY_ATTR = "s3delta.key"
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def make_storage(url: str) -> optuna.storages.RDBStorage:
    """RDB storage; SQLite gets a long lock timeout because the driver may run beside readers."""
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        return retry_storage(storage, url)  # a server restart is waited out, and said
    except RuntimeError as error:
        if "table schema" not in str(error):
            raise
        raise RuntimeError(
            f"optuna.storage {redact_url(url)}: the database already holds another tool's "
            "alembic tables (typically MLflow's, when both share one PostgreSQL database); "
            "give Optuna its own database or schema, e.g. append "
            "?options=-csearch_path%3Doptuna to the URL after CREATE SCHEMA optuna"
        ) from error


def cell_seed(base_seed: int, study_name: str) -> int:
    """A per-cell sampler seed that does not depend on the order of cells in the file."""
    return (base_seed * 1_000_003 + zlib.crc32(study_name.encode())) % (2**31)


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    """TPE (default; constant liar so parallel asks spread out), NSGA-II or random, seeded
    per trial from (seed, trial number) so a resumed cell asks what an uninterrupted one
    would (`trial_sampler.py`)."""
    if kind not in ("tpe", "nsga2", "random"):
        raise ValueError(f"optuna.sampler: unknown sampler {kind!r}; use tpe, nsga2 or random")
    return TrialSeededSampler(lambda trial_seed: _sampler(kind, trial_seed), seed)


def _sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"optuna.sampler: unknown sampler {kind!r}; use tpe, nsga2 or random")


def make_pruner(enabled: bool, min_steps: int, reduction_factor: int) -> optuna.pruners.BasePruner:
    """ASHA-style successive halving on intermediate dev scores, resource = training steps."""
    if not enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=max(1, int(min_steps)), reduction_factor=int(reduction_factor)
    )


def open_study(
    *,
    name: str,
    storage: optuna.storages.RDBStorage,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    multi_objective: bool,
) -> optuna.Study:
    """Create the cell's study, or load it when it already exists (resume)."""
    directions: list[StudyDirection] = [StudyDirection.MAXIMIZE]
    if multi_objective:
        directions.append(StudyDirection.MINIMIZE)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        directions=directions,
        load_if_exists=True,
    )


def study_exists(storage: optuna.storages.RDBStorage, name: str) -> bool:
    """Whether a study of this name already holds trials (a previous run of the sweep)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return bool(storage.get_all_trials(study_id, deepcopy=False))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the highest dev score (NSGA-II: best score on the front)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    front = study.best_trials if len(study.directions) > 1 else complete
    return max(front, key=lambda t: (t.values[0], -t.number))


def stale_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials left RUNNING by a driver that stopped: rerun them under the same number."""
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]


def trial_for(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A live handle on an existing RUNNING trial (for report/should_prune/tell)."""
    return optuna.Trial(study, frozen._trial_id)
