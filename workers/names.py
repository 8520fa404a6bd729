"""`safe_name`: text made safe as a file, folder or metric name; the one rule for it.

Sweep folders (`orchestrator.paths`), MLflow metric names (`comparison_metrics`), figure
files (`dashboards.sweep_figures`) and cache files (`workers.data.encode_cache`) each
need a name made of safe characters; they differ only in what they keep and what they
put instead, which the keywords say. In `workers` because the cache, the lowest user,
may not import the orchestrator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def safe_name(
    text: str,
    *,
    keep: str = "._-",
    sep: str = "-",
    strip: str = "-.",
    words: Mapping[str, str] | None = None,
    limit: int | None = None,
    fallback: str = "unnamed",
) -> str:
    """`text` with each run of characters other than letters, digits and `keep` replaced by
    `sep`, `strip` trimmed from both ends, cut to `limit` characters, `fallback` if empty.

    `words` are replaced first (e.g. ``{"%": "pct"}``). Defaults: a folder name
    (``"glue/sst2 run"`` -> ``"glue-sst2-run"``)."""
    for old, new in (words or {}).items():
        text = text.replace(old, new)
    cleaned = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", sep, text).strip(strip)
    if limit is not None:
        cleaned = cleaned[:limit]
    return cleaned or fallback
