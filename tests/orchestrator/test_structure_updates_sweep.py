"""``structure_updates`` is a sweep setting like the other lengths, checked before any work
(issue 20): bounds, and only one of structure_updates / search_epochs."""

from __future__ import annotations

import pytest

from orchestrator.sweep import SweepValidationError, parse_sweep

SWEEP = """
name: su
model: sentence-transformers/all-MiniLM-L6-v2
tasks: [glue/sst2]
methods: [s3delta, random]
budgets: ["0.01%"]
seeds: [1]
training: {TRAINING}
"""


def test_structure_updates_is_accepted(tmp_path) -> None:
    sweep = parse_sweep(SWEEP.replace("{TRAINING}", "{structure_updates: 1700}"), tmp_path)
    assert sweep.training["structure_updates"] == 1700


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ("{structure_updates: 0}", "training.structure_updates: got 0; it must be at least 1"),
        (
            "{structure_updates: 10, search_epochs: 2}",
            "training.structure_updates: both structure_updates and search_epochs set the "
            "search's length; keep one of them",
        ),
    ],
)
def test_bad_lengths_are_refused_naming_the_field(tmp_path, training: str, message: str) -> None:
    with pytest.raises(SweepValidationError) as err:
        parse_sweep(SWEEP.replace("{TRAINING}", training), tmp_path)
    assert message in str(err.value)
