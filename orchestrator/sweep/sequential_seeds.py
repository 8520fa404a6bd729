"""``seeds: {start: [1, 2, 3], max: 20, until: decided, margin: 1.0, baseline: random}``:
seeds added in pairs until each s3delta cell's comparison with its baseline is decided.

A plain list (``seeds: [1, 2, 3]``) keeps its meaning. The mapping form starts every
cell with the ``start`` seeds; after each finished pair (s3delta and the baseline, same
task, budget and seed) the comparison is looked at again, and the next seed (the largest
start seed + 1, + 2, ...) is added to both cells until the difference is shown above 0
(``better``), below 0 (``worse``), within +-``margin`` points (``equivalent``), or ``max``
seeds are reached (``undecided``). The statistics are `orchestrator.results.sequential`
(repeated confidence intervals of a group-sequential design; docs/design.md).

`SweepConfig` takes the mapping apart before its fields are validated (`split_seeds`):
``seeds`` becomes the start list, so the plan, the limits and everything that reads
``sweep.seeds`` see the seeds every cell starts with, and the mapping is kept as
`SweepConfig.sequential_seeds`. Problems are reported at ``seeds.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails

from orchestrator.sweep.errors import short
from orchestrator.sweep.limits import SEED_MAX
from orchestrator.sweep.problems import reraisable
from orchestrator.sweep.sweep_base import Seed, no_duplicates

if TYPE_CHECKING:
    from orchestrator.results.sequential import SeedStep

# the comparison's statistics are calibrated by simulating `max` looks (about 2 s at 100)
MAX_SEQUENTIAL = 100
COMPARED = "s3delta"  # the method whose cells are compared with the baseline
PLACEHOLDER_SEEDS = [0]  # stands in for `seeds` while the mapping has problems


class SequentialSeeds(BaseModel):
    """The mapping form of ``seeds``: where to start, how far to go, when to stop."""

    model_config = ConfigDict(extra="forbid", strict=True)

    start: list[Seed]
    max: int = Field(le=MAX_SEQUENTIAL)
    until: Literal["decided"]
    margin: float = Field(ge=0)
    baseline: str = Field(default="random", min_length=1)

    @field_validator("start")
    @classmethod
    def _two_distinct(cls, values: list[int]) -> list[int]:
        if len(values) < 2:
            raise ValueError(
                f"has {len(values)} seed(s); list at least 2, e.g. [1, 2, 3] (the first look "
                "needs the spread of two paired differences)"
            )
        return no_duplicates(values, "seed")

    def schedule(self) -> tuple[int, ...]:
        """Every seed a cell may run, in the order they are added (start first)."""
        from orchestrator.results.sequential import seed_schedule

        return seed_schedule(self.start, self.max)

    def step(self, s3delta: Mapping[int, float], baseline: Mapping[int, float]) -> SeedStep:
        """For the driver: the comparison of one s3delta cell with its baseline cell from
        their finished final runs (seed -> test score), and what to do next.

        Returns `orchestrator.results.sequential.SeedStep`: ``verdict`` (better, worse,
        equivalent, undecided), ``interval`` (points; None until the start seeds are all
        paired), ``n_pairs`` (the seeds the verdict used) and ``next_seed`` (the seed to
        add to both cells, or None: decided, ``max`` reached, or start seeds pending).
        Pure: the same scores give the same answer, so ``--resume`` repeats it."""
        from orchestrator.results.sequential import next_step

        return next_step(s3delta, baseline, start=self.start, n_max=self.max, margin=self.margin)


def split_seeds(
    data: dict[str, Any],
) -> tuple[dict[str, Any], SequentialSeeds | None, list[InitErrorDetails]]:
    """A plain ``seeds`` list: `data` unchanged. A mapping: `data` with the start seeds as
    ``seeds``, the validated mapping, and its field errors at ``seeds.<key>`` (then a
    placeholder list stands in, so ``seeds`` is not reported twice)."""
    raw = data.get("seeds")
    if not isinstance(raw, dict):
        return data, None, []
    try:
        sequential = SequentialSeeds.model_validate(raw)
    except ValidationError as err:
        errors = reraisable(err)
        for error in errors:
            error["loc"] = ("seeds", *error["loc"])
        return {**data, "seeds": PLACEHOLDER_SEEDS}, None, errors
    return {**data, "seeds": list(sequential.start)}, sequential, []


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def sequential_problems(raw: Any, raw_methods: Any) -> list[str]:
    """The rules between the mapping's keys and against ``methods``, on the raw data, so
    they are reported beside the keys' own errors (pydantic's). Nothing for a list."""
    if not isinstance(raw, dict):
        return []
    problems = []
    start, most = raw.get("start"), raw.get("max")
    if isinstance(start, list) and start and all(_whole(s) for s in start) and _whole(most):
        if most < len(start):
            problems.append(
                f"seeds.max: {most} is fewer than the {len(start)} start seeds; set max to at "
                f"least {len(start)} (it counts every seed, the start seeds included)"
            )
        last = max(start) + most - len(start)
        if last > SEED_MAX >= max(start):
            problems.append(
                f"seeds.start: seeds are added after the largest start seed {max(start)}, up "
                f"to {last}, above the largest seed {SEED_MAX}; use smaller start seeds"
            )
    if not isinstance(raw_methods, list):
        return problems  # pydantic reports methods
    listed = [str(m) for m in raw_methods]
    baseline = raw.get("baseline", "random")
    if COMPARED not in listed:
        problems.append(
            f"seeds.until: 'decided' adds seeds until each {COMPARED} cell's comparison with "
            f"{baseline if isinstance(baseline, str) else short(baseline)} is settled, and methods has no {COMPARED}; add {COMPARED} to "
            "methods, or give seeds as a plain list"
        )
    if not isinstance(baseline, str) or not baseline:
        return problems  # pydantic reports the type
    if baseline == COMPARED:
        problems.append(
            f"seeds.baseline: {COMPARED} cannot be its own baseline; name another of methods "
            f"({', '.join(m for m in listed if m != COMPARED) or 'none'})"
        )
    elif baseline not in listed:
        default = " (the default)" if "baseline" not in raw else ""
        problems.append(
            f"seeds.baseline: {short(baseline)}{default} is not one of methods "
            f"({', '.join(listed)}); name one of them, or add it to methods"
        )
    return problems
