#!/usr/bin/env bash
# Installs headless Chromium + chromedriver (Debian packages) for the browser tests
# (`pytest -m browser`) and for kaleido's PNG export of plotly figures. Needs root.
set -euo pipefail
apt-get update && apt-get install -y chromium chromium-driver
