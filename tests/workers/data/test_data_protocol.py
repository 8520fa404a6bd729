"""The evaluation protocol: sizes, determinism per seed, disjoint splits, intact groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.data import (
    Example,
    Splits,
    TaskData,
    TaskDataError,
    cap_examples,
    cap_splits,
    get_task,
    load_local,
    make_splits,
    split_validation_as_train,
)


def _ids(examples: list[Example]) -> set[int]:
    return {e.idx for e in examples}


def _grouped(n_groups: int, per_group: int) -> list[Example]:
    return [
        Example(idx=g * per_group + a, text_a="p", text_b="q", answer=str(a), label=a % 2, group=g)
        for g in range(n_groups)
        for a in range(per_group)
    ]


def test_small_task_splits_validation_in_half(shared_data: Path) -> None:
    spec = get_task("glue/rte")
    rte = load_local(spec.name, shared_data)
    splits = make_splits(rte, spec, seed=1)
    assert splits.sizes == {
        "official_train": 2490,
        "official_validation": 277,
        "train": 2490,
        "dev": 138,
        "test": 139,
    }
    assert _ids(splits.dev).isdisjoint(_ids(splits.test))
    assert _ids(splits.dev) | _ids(splits.test) == _ids(rte.validation)
    assert "validation split in half (seed 1)" in splits.protocol


def test_splits_are_deterministic_per_seed_and_differ_across_seeds(shared_data: Path) -> None:
    spec = get_task("glue/rte")
    rte = load_local(spec.name, shared_data)
    first, again, other = (make_splits(rte, spec, seed=s) for s in (3, 3, 4))
    assert [e.idx for e in first.dev] == [e.idx for e in again.dev]
    assert _ids(first.dev) != _ids(other.dev)


def test_large_task_holds_out_train_as_dev_and_tests_on_validation(shared_data: Path) -> None:
    spec = get_task("glue/sst2")
    sst2 = load_local(spec.name, shared_data)
    splits = make_splits(sst2, spec, seed=1, dev_holdout=1000)
    assert (splits.sizes["train"], splits.sizes["dev"], splits.sizes["test"]) == (66349, 1000, 872)
    assert splits.test == sst2.validation
    # SST-2 train rows carry no idx: positions identify them, so compare by identity
    assert {id(e) for e in splits.dev}.isdisjoint({id(e) for e in splits.train})
    with pytest.raises(ValueError, match="dev_holdout=0 must be between 1 and 67348"):
        make_splits(sst2, spec, seed=1, dev_holdout=0)


def test_task_without_train_needs_an_explicit_opt_in(shared_data: Path) -> None:
    spec = get_task("superglue/multirc")
    multirc = load_local(spec.name, shared_data)
    with pytest.raises(TaskDataError, match=r"no training split.*split_validation_as_train"):
        make_splits(multirc, spec, seed=1)
    carved = split_validation_as_train(multirc, seed=1)
    splits = make_splits(carved, spec, seed=1)
    assert "split from the official validation set" in splits.protocol
    parts = [{e.group for e in part} for part in (splits.train, splits.dev, splits.test)]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2])
    assert parts[1].isdisjoint(parts[2])
    assert len(parts[0] | parts[1] | parts[2]) == 953
    assert sum(splits.sizes[k] for k in ("train", "dev", "test")) == 4848
    with pytest.raises(ValueError, match="already has a train split"):
        split_validation_as_train(carved, seed=1)


def test_large_grouped_task_holds_out_whole_groups() -> None:
    spec = get_task("superglue/multirc")
    data = TaskData(spec.name, train=_grouped(3400, 3), validation=_grouped(10, 3), source="mem")
    splits = make_splits(data, spec, seed=5, dev_holdout=100)
    assert splits.sizes["dev"] == 102  # groups of 3 are taken until >= 100 examples
    assert {e.group for e in splits.dev}.isdisjoint({e.group for e in splits.train})
    assert splits.sizes["train"] == 10200 - 102


def test_caps_are_seeded_keep_groups_and_record_sizes() -> None:
    grouped = _grouped(20, 3)
    capped = cap_examples(grouped, 10, seed=2)
    assert len(capped) == 9  # three whole groups fit under 10
    assert all(sum(e.group == g for e in capped) == 3 for g in {e.group for e in capped})
    assert capped == cap_examples(grouped, 10, seed=2)
    assert cap_examples(grouped, None, seed=2) == grouped
    with pytest.raises(ValueError, match="must be positive"):
        cap_examples(grouped, 0, seed=2)

    flat = [Example(idx=i, text_a=str(i), label=i % 2) for i in range(50)]
    splits = Splits(flat[:30], flat[30:40], flat[40:], {"train": 30, "dev": 10, "test": 10}, "p")
    small = cap_splits(splits, seed=1, max_train_examples=12, max_eval_examples=4)
    assert small.sizes == {"train": 12, "dev": 4, "test": 4}
    assert [e.idx for e in small.train] == sorted(e.idx for e in small.train)  # order kept
    assert "train capped to 12" in small.protocol and "dev/test capped to 4/4" in small.protocol
