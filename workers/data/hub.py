"""Load a task from the Hugging Face hub, or pick local files when a data directory is given.

The hub path is the one users run when they have network access; this machine has
none, so the part that can be tested, `hub_rows_to_examples`, is kept separate from the
download and shares `rows.rows_to_examples` with the local loader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workers.data.errors import TaskDataError
from workers.data.examples import Example, TaskData
from workers.data.local_files import load_local
from workers.data.rows import rows_to_examples
from workers.data.sizes import check_sizes
from workers.data.tasks import TaskSpec, get_task

# MNLI's validation is reported on the matched half, like the GLUE dev score.
VALIDATION_SPLIT = {"glue/mnli": "validation_matched"}


def hub_rows_to_examples(
    spec: TaskSpec, rows: Iterable[Mapping[str, Any]], split: str
) -> list[Example]:
    """Convert rows of a hub split (a `datasets.Dataset` or any iterable of dicts)."""
    source = f"hub {spec.hub[0]} ({spec.hub[1]}) split {split}"
    return rows_to_examples(spec, ((i, row) for i, row in enumerate(rows)), source)


def load_hub(task: str) -> TaskData:
    """Download `task` with `datasets.load_dataset(*spec.hub)` (needs network or a warm cache)."""
    import datasets  # heavy import, only on this path

    spec = get_task(task)
    validation_split = VALIDATION_SPLIT.get(spec.name, "validation")
    try:
        loaded = datasets.load_dataset(*spec.hub)
    except Exception as err:  # network, auth, unknown config: say what to do instead
        raise TaskDataError(
            spec.name,
            f"hub {spec.hub[0]} ({spec.hub[1]})",
            f"loading failed ({type(err).__name__}: {err})",
            "check network access to huggingface.co, or pass a data_dir with the official files",
        ) from err
    return TaskData(
        task=spec.name,
        train=hub_rows_to_examples(spec, loaded["train"], "train"),
        validation=hub_rows_to_examples(spec, loaded[validation_split], validation_split),
        source=f"hub {spec.hub[0]} ({spec.hub[1]})",
    )


def load_task(task: str, data_dir: str | Path | None = None) -> TaskData:
    """Local official files when `data_dir` is given, else the hub; a split whose size is
    not the official one is warned about and noted (`workers.data.sizes`)."""
    data = load_local(task, data_dir) if data_dir is not None else load_hub(task)
    return check_sizes(get_task(task), data)
