"""Split sizes against the official ones: a shortened file is accepted, never silently.

A training file cut at a line boundary parses cleanly, so nothing else notices it (a
fault audit cut SST-2's train to 30 rows and got no word). Each loaded split is compared
with the task's official size (`TaskSpec.train_size`, `.validation_size`); a difference
is a `ShortSplitWarning` and a note in `TaskData.notes`, which the protocol line, and so
every run record, carries. It is a warning, not an error: fixtures, subsets and newer
releases of a task are legitimate.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

from workers.data.examples import TaskData
from workers.data.tasks import TaskSpec


class ShortSplitWarning(UserWarning):
    """A loaded split whose size is not the task's official size."""


def size_notes(spec: TaskSpec, data: TaskData) -> list[str]:
    """One line per split whose loaded size differs from the official one."""
    notes = []
    for split, examples, official in (
        ("train", data.train, spec.train_size),
        ("validation", data.validation, spec.validation_size),
    ):
        if examples is None or not official or len(examples) == official:
            continue
        notes.append(
            f"{split} has {len(examples):,} examples where the official {spec.folder} {split} "
            f"has {official:,} ({data.source}); if that is not intended, replace the file "
            "with the official one"
        )
    return notes


def check_sizes(spec: TaskSpec, data: TaskData) -> TaskData:
    """``data`` with a note (and a `ShortSplitWarning`) for each split of another size."""
    notes = size_notes(spec, data)
    for note in notes:
        warnings.warn(f"{spec.name}: {note}", ShortSplitWarning, stacklevel=3)
    return replace(data, notes=(*data.notes, *notes)) if notes else data
