"""A sampler whose draws for trial N depend only on (cell seed, N) and the study's history.

Optuna's samplers keep a random state that advances with every ask. Rebuilt on
`--resume` from the same seed, it restarts from the beginning, so the first trial asked
after a resume drew the parameters of the cell's trial 0 (issue 23, fault 2). Here every
trial gets a sampler of its own, seeded from the cell's seed and the trial's number:
trial N asks the same parameters whether or not the driver was restarted before it
(given the same finished trials, which a sweep that tunes one trial at a time always
has; the random start-up trials of TPE and the random sampler need nothing else).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

# samplers of trials still being asked or told (a cell has at most a few in flight)
_KEEP = 64


def trial_seed(cell_seed: int, number: int) -> int:
    """The seed of trial `number` of a cell: stable, and unrelated for neighbouring numbers."""
    state = np.random.SeedSequence([int(cell_seed) % 2**32, int(number)]).generate_state(1)
    return int(state[0]) % 2**31


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Delegates to `build(seed)`, one inner sampler per trial number."""

    def __init__(self, build: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self.build = build
        self.seed = int(seed)
        self._inner: OrderedDict[int, optuna.samplers.BaseSampler] = OrderedDict()
        self._any = build(self.seed)  # for calls that name no trial

    def for_trial(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        number = int(trial.number)
        sampler = self._inner.get(number)
        if sampler is None:
            sampler = self.build(trial_seed(self.seed, number))
            self._inner[number] = sampler
            while len(self._inner) > _KEEP:
                self._inner.popitem(last=False)
        return sampler

    def __str__(self) -> str:
        return f"TrialSeeded({self._any})"

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.for_trial(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.for_trial(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.for_trial(trial).sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.for_trial(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.for_trial(trial).after_trial(study, trial, state, values)
        self._inner.pop(int(trial.number), None)

    def reseed_rng(self) -> None:
        """Kept deterministic on purpose: the seeds come from the trial numbers."""
