"""The GLUE and SuperGLUE tasks s3delta knows: formats, label sets, official metrics.

One `TaskSpec` per task. The loaders, the encoders and the metric code all read
from this table, so adding a task is one entry here plus its reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TaskKind = Literal["classification", "regression", "choice", "multirc"]


class UnknownTaskError(ValueError):
    """A task name that is not in `TASKS`."""


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: where it lives, what its labels are, how it is scored."""

    name: str  # "glue/sst2"
    benchmark: Literal["glue", "superglue"]
    folder: str  # official folder name in a GLUE/SuperGLUE download, e.g. "SST-2"
    hub: tuple[str, str]  # (hub dataset id, config) for `datasets.load_dataset` (parquet repos)
    kind: TaskKind
    labels: tuple[str, ...]  # label words; index = class id ("" for regression)
    metrics: tuple[str, ...]  # official metrics; selection uses their mean (metrics.primary_score)
    train_size: int  # official train size (for reference; the protocol uses the loaded size)
    text_fields: tuple[str, ...] = field(default_factory=tuple)
    # official validation size in examples (MultiRC: answer options); 0 = not known. A
    # loaded split of another size is warned about (`workers.data.sizes`), never refused
    validation_size: int = 0

    @property
    def num_labels(self) -> int:
        """Output width of an encoder head (1 for regression and choice scoring)."""
        return 1 if self.kind in ("regression", "choice") else len(self.labels)

    @property
    def primary_metric(self) -> str:
        """The metric papers list first; model selection uses `metrics.primary_score`."""
        return self.metrics[0]


def _t(*args: object, **kw: object) -> TaskSpec:
    return TaskSpec(*args, **kw)  # type: ignore[arg-type]


# fmt: off
TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        _t("glue/cola", "glue", "CoLA", ("nyu-mll/glue", "cola"), "classification",
           ("unacceptable", "acceptable"), ("mcc",), 8551, ("sentence",), validation_size=1043),
        _t("glue/sst2", "glue", "SST-2", ("nyu-mll/glue", "sst2"), "classification",
           ("negative", "positive"), ("accuracy",), 67349, ("sentence",), validation_size=872),
        _t("glue/mrpc", "glue", "MRPC", ("nyu-mll/glue", "mrpc"), "classification",
           ("not_equivalent", "equivalent"), ("f1", "accuracy"), 3668, ("sentence1", "sentence2"), validation_size=408),
        _t("glue/stsb", "glue", "STS-B", ("nyu-mll/glue", "stsb"), "regression",
           ("",), ("pearson", "spearman"), 5749, ("sentence1", "sentence2"), validation_size=1500),
        _t("glue/qqp", "glue", "QQP", ("nyu-mll/glue", "qqp"), "classification",
           ("not_duplicate", "duplicate"), ("f1", "accuracy"), 363846, ("question1", "question2"), validation_size=40430),
        _t("glue/mnli", "glue", "MNLI", ("nyu-mll/glue", "mnli"), "classification",
           ("entailment", "neutral", "contradiction"), ("accuracy",), 392702, ("premise", "hypothesis"), validation_size=9815),
        _t("glue/qnli", "glue", "QNLI", ("nyu-mll/glue", "qnli"), "classification",
           ("entailment", "not_entailment"), ("accuracy",), 104743, ("question", "sentence"), validation_size=5463),
        _t("glue/rte", "glue", "RTE", ("nyu-mll/glue", "rte"), "classification",
           ("entailment", "not_entailment"), ("accuracy",), 2490, ("sentence1", "sentence2"), validation_size=277),
        _t("superglue/boolq", "superglue", "BoolQ", ("aps/super_glue", "boolq"), "classification",
           ("false", "true"), ("accuracy",), 9427, ("question", "passage"), validation_size=3270),
        _t("superglue/cb", "superglue", "CB", ("aps/super_glue", "cb"), "classification",
           ("entailment", "contradiction", "neutral"), ("macro_f1", "accuracy"), 250, ("premise", "hypothesis"), validation_size=56),
        _t("superglue/copa", "superglue", "COPA", ("aps/super_glue", "copa"), "choice",
           ("choice1", "choice2"), ("accuracy",), 400, ("premise", "choice1", "choice2", "question"), validation_size=100),
        _t("superglue/rte", "superglue", "RTE", ("aps/super_glue", "rte"), "classification",
           ("entailment", "not_entailment"), ("accuracy",), 2490, ("premise", "hypothesis"), validation_size=277),
        _t("superglue/wic", "superglue", "WiC", ("aps/super_glue", "wic"), "classification",
           ("false", "true"), ("accuracy",), 5428, ("word", "sentence1", "sentence2"), validation_size=638),
        _t("superglue/multirc", "superglue", "MultiRC", ("aps/super_glue", "multirc"), "multirc",
           ("false", "true"), ("f1a", "em"), 27243, ("paragraph", "question", "answer"), validation_size=4848),
    ]
}
# fmt: on


def get_task(name: str) -> TaskSpec:
    """Look up a task by its ``benchmark/task`` name; the error lists the known names."""
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {name!r}: use one of {', '.join(sorted(TASKS))}"
        ) from None
