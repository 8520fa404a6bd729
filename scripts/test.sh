#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run calls): installs everything the
# tests need, then runs lint, types and the default test suite (everything not marked slow).
#   bash scripts/test.sh            # default suite
#   bash scripts/test.sh -m slow    # extra pytest arguments are passed through
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-system.sh      # docker-compose (schema validation), psql
  bash scripts/install-browser.sh     # chromium + chromedriver (browser tests, PNG export)
  # PostgreSQL runs on this kind of machine; start it if it was stopped
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
.venv/bin/mypy
if [ "$#" -eq 0 ]; then
  # tests of one module stay on one worker (module fixtures run once), modules in the
  # order tests/conftest.py gives (heavy ones first, not xdist's by-size order); about half of a
  # test's time is spent waiting on services, so 2 workers fit 2 cores; at most 4
  workers=$(( $(nproc) < 4 ? ($(nproc) < 2 ? 2 : $(nproc)) : 4 ))
  set -- -m "not slow" -n "$workers" --dist loadscope --no-loadscope-reorder
fi
exec .venv/bin/pytest "$@"
