"""PNG export of plotly figures through kaleido (which drives a headless Chrome/Chromium).

Kaleido 1.x ships no browser. When none is found the report still writes its HTML
and says how to get PNGs (scripts/install-browser.sh installs Debian's chromium),
instead of failing the whole report.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

BROWSER_HINT = (
    "PNG export needs Chrome/Chromium for kaleido: run scripts/install-browser.sh "
    "(Debian chromium) or `plotly_get_chrome`, then rerun `s3delta report`"
)
# the one line `s3delta report` prints when it wrote no PNGs for want of a browser
NO_BROWSER = (
    "no PNGs: Chromium not found; `sudo bash scripts/install-browser.sh` installs it "
    "(then rerun `s3delta report`), or pass --no-png"
)
NO_PNG_PREFIX = "no PNGs:"


def find_browser() -> str | None:
    """Path of a Chrome/Chromium kaleido can drive, if one is on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pngs(figures: Sequence[go.Figure], paths: Sequence[Path]) -> str | None:
    """Write each figure to its path (one browser session); returns an error note or None."""
    if not figures:
        return None
    if find_browser() is None:
        return NO_BROWSER
    try:
        pio.write_images(
            list(figures),
            [str(p) for p in paths],
            format="png",
            width=[f.layout.width or 1200 for f in figures],
            height=[f.layout.height or 600 for f in figures],
        )
    except Exception as err:  # kaleido raises several types (ChromeNotFoundError, RuntimeError)
        first = " ".join(str(err).split())[:160]
        return f"{NO_PNG_PREFIX} kaleido failed ({type(err).__name__}: {first}). {BROWSER_HINT}"
    return None
