"""The official GLUE/SuperGLUE metrics, computed with scikit-learn and scipy.

Values are fractions (accuracy 0.8, not 80). Degenerate inputs give a defined number
instead of NaN: a correlation (MCC, Pearson, Spearman) with a constant side is 0.0 and
an F1 with no positive prediction is 0.0, so a model stuck on one class scores like
chance and never poisons model selection with NaN.

Macro-F1 (CB) averages over the classes present in labels or predictions, as
scikit-learn's default and the SuperGLUE reference code (jiant) do. A prediction of -1
(a T5 output that is no label word) is wrong everywhere but never counted as a class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score, matthews_corrcoef

from workers.data.tasks import TaskSpec


def compute_metrics(
    spec: TaskSpec,
    predictions: Sequence[float] | np.ndarray,
    labels: Sequence[float] | np.ndarray,
    groups: Sequence[int] | np.ndarray | None = None,
) -> dict[str, float]:
    """Score predictions (class ids, chosen COPA choice, or STS-B scores) against labels.

    `groups` (the MultiRC question id of each answer) is required for MultiRC `em`.
    Returns one value per name in `spec.metrics`.
    """
    pred, gold = np.asarray(predictions), np.asarray(labels)
    if pred.ndim != 1 or pred.shape != gold.shape:
        raise ValueError(
            f"{spec.name}: predictions {pred.shape} and labels {gold.shape} must be 1-D and "
            "equally long (one prediction per example)"
        )
    if pred.size == 0:
        raise ValueError(f"{spec.name}: no predictions to score; evaluate a non-empty split")
    if spec.kind != "regression":
        pred, gold = pred.astype(np.int64), gold.astype(np.int64)
    values: dict[str, float] = {}
    for name in spec.metrics:
        values[name] = _metric(spec, name, pred, gold, groups)
    return values


def primary_score(spec: TaskSpec, metrics: Mapping[str, float]) -> float:
    """The selection/report score: the mean of the task's official metrics.

    One metric for most tasks; for MRPC/QQP (F1, accuracy), STS-B (Pearson, Spearman),
    CB (macro-F1, accuracy) and MultiRC (F1a, EM) it is their mean, which is how the
    GLUE and SuperGLUE leaderboards turn a task into one number.
    """
    missing = [name for name in spec.metrics if name not in metrics]
    if missing:
        raise ValueError(
            f"{spec.name}: metrics {missing} missing from {sorted(metrics)}; "
            "pass the dict returned by compute_metrics"
        )
    return float(np.mean([metrics[name] for name in spec.metrics]))


def _metric(
    spec: TaskSpec,
    name: str,
    pred: np.ndarray,
    gold: np.ndarray,
    groups: Sequence[int] | np.ndarray | None,
) -> float:
    if name == "accuracy":
        return float(np.mean(pred == gold))
    if name == "mcc":
        return _finite(matthews_corrcoef(gold, pred))
    if name in ("f1", "f1a"):  # F1 of class 1; an invalid prediction (-1) is a negative
        return float(f1_score(gold, pred, labels=[1], average="micro", zero_division=0))
    if name == "macro_f1":
        present = sorted(set(gold.tolist()) | {p for p in pred.tolist() if p >= 0})
        return float(f1_score(gold, pred, labels=present, average="macro", zero_division=0))
    if name == "pearson":
        return _correlation(stats.pearsonr, pred, gold)
    if name == "spearman":
        return _correlation(stats.spearmanr, pred, gold)
    if name == "em":
        return _exact_match(spec, pred, gold, groups)
    raise ValueError(f"{spec.name}: unknown metric {name!r} in TaskSpec.metrics")


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def _correlation(func: object, pred: np.ndarray, gold: np.ndarray) -> float:
    if np.ptp(pred) == 0 or np.ptp(gold) == 0:
        return 0.0  # undefined for a constant side; scipy would warn and return NaN
    statistic = func(pred.astype(float), gold.astype(float))[0]  # type: ignore[operator]
    return _finite(statistic)


def _exact_match(
    spec: TaskSpec, pred: np.ndarray, gold: np.ndarray, groups: Sequence[int] | np.ndarray | None
) -> float:
    """Share of questions (groups) whose answers are all predicted correctly."""
    if groups is None:
        raise ValueError(
            f"{spec.name}: exact match needs groups (the question id of each answer); "
            "pass groups=[example.group for example in examples]"
        )
    group_ids = np.asarray(groups)
    if group_ids.shape != pred.shape:
        raise ValueError(
            f"{spec.name}: groups {group_ids.shape} must have one id per prediction {pred.shape}"
        )
    correct = pred == gold
    per_group = [bool(np.all(correct[group_ids == g])) for g in np.unique(group_ids)]
    return float(np.mean(per_group))
