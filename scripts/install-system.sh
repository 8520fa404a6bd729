#!/usr/bin/env bash
# Installs the Debian tools the deployment tests use (tests/deploy). Needs root. Idempotent.
# - docker-compose: Compose's own parser validates docker-compose.yml offline
#   (`docker-compose config`); no Docker engine is needed or started.
# - postgresql-client: psql, used by deploy/local-cluster.sh to create its databases on
#   the machine's PostgreSQL.
set -euo pipefail
needed=()
command -v docker-compose >/dev/null || needed+=(docker-compose)
command -v psql >/dev/null || needed+=(postgresql-client)
if ((${#needed[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${needed[@]}"
fi
