"""Task data for s3delta: loading (local official files or hub), the evaluation protocol,
official metrics and encoding for encoder and T5 models.

Typical use::

    from workers import data
    spec = data.get_task("glue/rte")
    splits = data.make_splits(data.load_task(spec.name, "/work/shared/data"), spec, seed=1)
    encoded = data.encode_for_encoder(spec, splits.train, tokenizer, max_length=128)
    for batch in data.batches(encoded, 32, seed=1): ...
    scores = data.compute_metrics(spec, predictions, [e.label for e in splits.dev])

The names load on first use (PEP 562): the task table (`workers.data.tasks`), which
sweep validation reads, must not pull in scikit-learn and scipy with the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_space.lazy import lazy_exports

if TYPE_CHECKING:
    from workers.data.batching import batches, length_order
    from workers.data.encoder_inputs import encode_for_encoder
    from workers.data.errors import TaskDataError
    from workers.data.examples import Example, TaskData
    from workers.data.hub import hub_rows_to_examples, load_hub, load_task
    from workers.data.local_files import load_local
    from workers.data.metrics import compute_metrics, primary_score
    from workers.data.protocol import (
        Splits,
        cap_examples,
        cap_splits,
        make_splits,
        split_validation_as_train,
    )
    from workers.data.t5_inputs import decode_t5_predictions, encode_for_t5
    from workers.data.tasks import TASKS, TaskSpec, UnknownTaskError, get_task

# submodule -> the names it exports here (the TYPE_CHECKING imports above, for type checkers)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "batching": ("batches", "length_order"),
    "encoder_inputs": ("encode_for_encoder",),
    "errors": ("TaskDataError",),
    "examples": ("Example", "TaskData"),
    "hub": ("hub_rows_to_examples", "load_hub", "load_task"),
    "local_files": ("load_local",),
    "metrics": ("compute_metrics", "primary_score"),
    "protocol": (
        "Splits",
        "cap_examples",
        "cap_splits",
        "make_splits",
        "split_validation_as_train",
    ),
    "t5_inputs": ("decode_t5_predictions", "encode_for_t5"),
    "tasks": ("TASKS", "TaskSpec", "UnknownTaskError", "get_task"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "TASKS",
    "Example",
    "Splits",
    "TaskData",
    "TaskDataError",
    "TaskSpec",
    "UnknownTaskError",
    "batches",
    "cap_examples",
    "cap_splits",
    "compute_metrics",
    "decode_t5_predictions",
    "encode_for_encoder",
    "encode_for_t5",
    "get_task",
    "hub_rows_to_examples",
    "length_order",
    "load_hub",
    "load_local",
    "load_task",
    "make_splits",
    "primary_score",
    "split_validation_as_train",
]
