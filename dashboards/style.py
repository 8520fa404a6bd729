"""Shared look and row filters for the figures, so every figure colours a method alike."""

from __future__ import annotations

import pandas as pd
import plotly.express as px

from search_space.deltas import find_kind

_FIXED = {"s3delta": "#d62728", "random": "#7f7f7f", "finetune": "#000000"}
_PALETTE = px.colors.qualitative.Plotly


def kind_color(kind: str) -> str | None:
    """A delta kind's colour, as its own file declares it (None for an unknown kind)."""
    spec = find_kind(kind)
    return None if spec is None else spec.color


def kind_label(kind: str) -> str:
    """A delta kind's readable name (e.g. "LoRA"), or the kind itself when unknown."""
    spec = find_kind(kind)
    return kind if spec is None or not spec.label else spec.label


def color_of(method: str) -> str:
    """A stable colour per method name (fixed for the main methods, hashed otherwise)."""
    if method in _FIXED:
        return _FIXED[method]
    return _PALETTE[sum(map(ord, method)) % len(_PALETTE)]


def finished(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """FINISHED trials with a value for ``metric``: failed and partial runs are left out."""
    if trials.empty or metric not in trials.columns:
        return trials.iloc[0:0]
    return trials[(trials["status"] == "FINISHED") & trials[metric].notna()]


PERCENT = 100.0  # figures show scores in % (points), as every table does


def floored_range(values: object, min_span: float, pad: float = 0.08) -> list[float] | None:
    """A y range of at least ``min_span`` around ``values`` (None: let plotly choose).

    Float noise (a size of 2,270.9998 to 2,271.0002) would otherwise fill the whole axis
    and look like oscillation; with a floor it is a flat line."""
    numbers = pd.to_numeric(pd.Series(list(values)), errors="coerce").dropna()  # type: ignore[call-overload]
    numbers = numbers[numbers.abs() != float("inf")]
    if numbers.empty:
        return None
    low, high = float(numbers.min()), float(numbers.max())
    if high - low >= min_span:
        return None
    middle, half = (low + high) / 2, min_span / 2 * (1 + pad)
    return [middle - half, middle + half]
