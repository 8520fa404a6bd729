#!/usr/bin/env bash
# Installs s3delta and its test tools into ./.venv (created if missing). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch is pinned to 2.13.0 in pyproject.toml: the CPU wheel on this machine's disk.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
