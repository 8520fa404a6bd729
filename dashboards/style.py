"""Shared look and row filters for the figures, so every figure colours a method alike."""

from __future__ import annotations

import pandas as pd
import plotly.express as px

_FIXED = {"s3delta": "#d62728", "random": "#7f7f7f", "finetune": "#000000"}
_PALETTE = px.colors.qualitative.Plotly
KIND_COLORS = {
    "lora": "#1f77b4",
    "bitfit": "#ff7f0e",
    "lnfit": "#2ca02c",
    "lra": "#9467bd",
    "adapter": "#8c564b",
}


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
