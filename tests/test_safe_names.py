"""One `safe_name` (workers/names.py) replaces four slug functions; each caller's names are
exactly what its old rule gave, since they name folders, MLflow metrics, figures and cache
files that already exist (a changed rule would orphan them)."""

from __future__ import annotations

import re

import pytest

from dashboards.sweep_figures import slug
from orchestrator.paths import safe_name as folder_name
from orchestrator.results.comparison_metrics import metric_part
from workers.data.encode_cache import _slug as cache_label

TEXTS = [
    "glue/sst2",
    "0.01%",
    "≤0.01%",
    "manual/lora-qv-r8",
    "  spaced  out  ",
    "..dots..",
    "--",
    "",
    "ünïcödé name",
    "a" * 60,
    "x/../y",
    "tab\there",
]


def _old_folder(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "unnamed"


def _old_metric(text: str) -> str:
    text = text.replace("≤", "le_").replace("%", "pct")
    return re.sub(r"[^A-Za-z0-9_.\- ]+", "_", text).strip("_ ") or "_"


def _old_figure(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("%", "pct")).strip("_")


def _old_cache(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "x"


@pytest.mark.parametrize("text", TEXTS)
def test_every_caller_gets_the_name_its_old_rule_gave(text: str) -> None:
    assert folder_name(text) == _old_folder(text)
    assert metric_part(text) == _old_metric(text)
    assert slug(text) == _old_figure(text)
    assert cache_label(text) == _old_cache(text)
