"""The evaluation protocol of spec section 6: selection never sees the reported test score.

- Fewer than `SMALL_TASK_LIMIT` training examples: the official validation set is split
  in half (seeded) into dev (selection) and test (reporting); train is the official train.
- Otherwise: `dev_holdout` training examples are held out as dev; test is the official
  validation set.

Splitting works on *units*: examples that share a `group` (a MultiRC question) move
together, so no question has answers on both sides. Everything is seeded through
`random.Random(f"<purpose>:{seed}")`, which is stable across platforms and Python runs.
Cap (`cap_splits`) after splitting, so capping never changes which protocol applies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from workers.data.errors import TaskDataError
from workers.data.examples import Example, TaskData
from workers.data.tasks import TaskSpec

SMALL_TASK_LIMIT = 10_000


@dataclass(frozen=True)
class Splits:
    """Train (weights), dev (model selection) and test (reporting only) of one seed."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    sizes: dict[str, int]
    protocol: str  # one line saying how the splits were made, for the run record


def make_splits(task_data: TaskData, spec: TaskSpec, seed: int, dev_holdout: int = 1000) -> Splits:
    """Apply the protocol to loaded data; the decision uses the loaded train size."""
    if task_data.train is None:
        raise TaskDataError(
            spec.name,
            task_data.source,
            "there is no training split",
            task_data.train_missing or "load a source that has the official train split",
        )
    train, validation = task_data.train, task_data.validation
    sizes = {"official_train": len(train), "official_validation": len(validation)}
    if len(train) < SMALL_TASK_LIMIT:
        dev, test = _split_units(validation, len(validation) // 2, f"dev-test:{seed}")
        protocol = (
            f"validation split in half (seed {seed}): dev {len(dev)} for selection, "
            f"test {len(test)} for reporting; train = official train ({len(train)} < "
            f"{SMALL_TASK_LIMIT})"
        )
    else:
        if not 0 < dev_holdout < len(train):
            raise ValueError(
                f"dev_holdout={dev_holdout} must be between 1 and {len(train) - 1} "
                f"(the {spec.name} train size minus one); pick e.g. 1000"
            )
        dev, train = _split_units(train, dev_holdout, f"dev-holdout:{seed}")
        test = list(validation)
        protocol = (
            f"{len(dev)} train examples held out as dev (seed {seed}) for selection; "
            f"test = official validation ({len(test)})"
        )
    if task_data.notes:
        protocol += "; " + "; ".join(task_data.notes)
    sizes.update(train=len(train), dev=len(dev), test=len(test))
    return Splits(train=train, dev=dev, test=test, sizes=sizes, protocol=protocol)


def split_validation_as_train(
    task_data: TaskData, seed: int, train_fraction: float = 0.5
) -> TaskData:
    """Opt-in only: carve a train split out of the official validation set (grouped, seeded).

    For tasks whose training file is unavailable offline (BoolQ, WiC, MultiRC). The scores
    then come from part of the validation set and are NOT comparable to published ones;
    the returned `notes` say so and `make_splits` copies them into `Splits.protocol`.
    """
    if task_data.train is not None:
        raise ValueError(
            f"{task_data.task} already has a train split ({len(task_data.train)} examples); "
            "split_validation_as_train is only for tasks without one"
        )
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction={train_fraction} must be strictly between 0 and 1")
    target = round(len(task_data.validation) * train_fraction)
    train, validation = _split_units(task_data.validation, target, f"val-as-train:{seed}")
    note = (
        f"train = {len(train)} examples split from the official validation set "
        f"(fraction {train_fraction}, seed {seed}); scores are not comparable to published ones"
    )
    return replace(
        task_data,
        train=train,
        validation=validation,
        train_missing=None,
        notes=(*task_data.notes, note),
    )


def cap_examples(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A seeded subset of at most `limit` examples (whole groups), in the original order."""
    if limit is None or limit >= len(examples):
        return list(examples)
    if limit <= 0:
        raise ValueError(f"a cap of {limit} examples must be positive (or None for no cap)")
    kept, _ = _split_units(examples, limit, f"cap:{seed}", fill_to_limit=True)
    return kept


def cap_splits(
    splits: Splits,
    seed: int,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
) -> Splits:
    """Cap train and, separately, dev and test (a capped test is no official score; noted)."""
    train = cap_examples(splits.train, max_train_examples, seed)
    dev = cap_examples(splits.dev, max_eval_examples, seed)
    test = cap_examples(splits.test, max_eval_examples, seed)
    notes = []
    if len(train) < len(splits.train):
        notes.append(f"train capped to {len(train)} (seed {seed})")
    if (len(dev), len(test)) != (len(splits.dev), len(splits.test)):
        notes.append(f"dev/test capped to {len(dev)}/{len(test)} (seed {seed})")
    protocol = "; ".join([splits.protocol, *notes])
    sizes = {**splits.sizes, "train": len(train), "dev": len(dev), "test": len(test)}
    return Splits(train=train, dev=dev, test=test, sizes=sizes, protocol=protocol)


def _units(examples: list[Example]) -> list[list[int]]:
    """Indices grouped by `Example.group` (ungrouped examples are units of one)."""
    by_group: dict[int, list[int]] = {}
    units: list[list[int]] = []
    for i, example in enumerate(examples):
        if example.group is None:
            units.append([i])
        elif example.group in by_group:
            by_group[example.group].append(i)
        else:
            by_group[example.group] = [i]
            units.append(by_group[example.group])
    return units


def _split_units(
    examples: list[Example], target: int, stream: str, fill_to_limit: bool = False
) -> tuple[list[Example], list[Example]]:
    """Shuffle units, give the first ones to the left side until it holds `target` examples.

    Default: take units while the left side is below `target` (a group may overshoot).
    `fill_to_limit`: never exceed `target` (skip units that do not fit), for caps.
    Both sides keep the original order of the examples.
    """
    units = _units(examples)
    random.Random(stream).shuffle(units)
    left: list[int] = []
    for unit in units:
        if fill_to_limit:
            if len(left) + len(unit) <= target:
                left.extend(unit)
        elif len(left) < target:
            left.extend(unit)
    chosen = set(left)
    return (
        [examples[i] for i in sorted(chosen)],
        [e for i, e in enumerate(examples) if i not in chosen],
    )
