#!/usr/bin/env bash
# Installs headless Chromium + chromedriver (Debian packages) for the browser tests
# (`pytest -m browser`) and for kaleido's PNG export of plotly figures. Needs root. Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium chromium-driver
