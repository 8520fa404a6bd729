#!/usr/bin/env bash
# The services of docker-compose.yml, started by hand on this machine without Docker:
# an MLflow server on the local PostgreSQL, a Ray head (GCS on port 6380) and a second
# Ray node joining it, so multi-node code paths run for real on one host.
#
#   deploy/local-cluster.sh start    # start everything, wait until it answers
#   deploy/local-cluster.sh status   # what runs, node count, the env to submit jobs
#   deploy/local-cluster.sh stop     # stop what `start` started (only that)
#   source /tmp/s3delta-local-cluster/env.sh   # MLFLOW_TRACKING_URI, RAY_ADDRESS, ...
#
# Settings (environment; defaults in brackets):
#   S3DELTA_LOCAL_STATE [/tmp/s3delta-local-cluster]  logs, pid files, Ray temp dirs, env.sh
#   S3DELTA_VENV [<repo>/.venv]                       where mlflow and ray are installed
#   S3DELTA_PG_HOST [127.0.0.1] S3DELTA_PG_PORT [5432] S3DELTA_PG_USER [postgres]
#   S3DELTA_MLFLOW_DB [s3delta_mlflow] S3DELTA_OPTUNA_DB [s3delta_optuna]
#   S3DELTA_MLFLOW_PORT [5000] S3DELTA_RAY_PORT [6380] S3DELTA_DASHBOARD_PORT [8265]
#   S3DELTA_NODE_CPUS [1]  CPUs each Ray node offers   S3DELTA_OBJECT_STORE_BYTES [500000000]
#   S3DELTA_STOP_GRACE [10]  seconds between SIGTERM and SIGKILL on stop
#   RAY_AUTH_MODE [disabled]  exported to every Ray process and written to env.sh, since
#                             `ray start`, `ray job submit` and `ray.init` must agree on it.
#
# GCS port 6380, not Ray's 6379: Redis often holds 6379 on dev machines, and then the
# head's GCS fails to start. Each service runs in a session of its own (setsid) and
# `stop` ends exactly those sessions' processes, by id; `ray stop` is never used, as it
# would end every Ray process of this user, other people's clusters included.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="${S3DELTA_LOCAL_STATE:-/tmp/s3delta-local-cluster}"
venv="${S3DELTA_VENV:-$repo_dir/.venv}"
pg_host="${S3DELTA_PG_HOST:-127.0.0.1}"
pg_port="${S3DELTA_PG_PORT:-5432}"
pg_user="${S3DELTA_PG_USER:-postgres}"
mlflow_db="${S3DELTA_MLFLOW_DB:-s3delta_mlflow}"
optuna_db="${S3DELTA_OPTUNA_DB:-s3delta_optuna}"
mlflow_port="${S3DELTA_MLFLOW_PORT:-5000}"
ray_port="${S3DELTA_RAY_PORT:-6380}"
dashboard_port="${S3DELTA_DASHBOARD_PORT:-8265}"
node_cpus="${S3DELTA_NODE_CPUS:-1}"
object_store_bytes="${S3DELTA_OBJECT_STORE_BYTES:-500000000}"
stop_grace="${S3DELTA_STOP_GRACE:-10}"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
export RAY_USAGE_STATS_ENABLED=0
export HF_HUB_OFFLINE=1
# Ray jobs inherit the head's environment: the entrypoint (`s3delta run`) must be on PATH
export PATH="$venv/bin:$PATH"

services=(ray-worker ray-head mlflow) # stop order; start order is the reverse

die() {
    echo "local-cluster: $*" >&2
    exit 1
}

log() { echo "local-cluster: $*"; }

pid_of() {
    local file="$state_dir/$1.pid"
    [[ -f "$file" ]] && cat "$file"
}

is_running() {
    local pid
    pid="$(pid_of "$1")" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

psql_cmd() {
    psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
    "$venv/bin/python" -c 'import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

http_ok() {
    "$venv/bin/python" -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=3)' "$1" 2>/dev/null
}

# Ray's own view: how many nodes are alive in the cluster behind the dashboard.
alive_nodes() {
    "$venv/bin/python" - "$dashboard_port" <<'EOF' 2>/dev/null
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/nodes?view=summary"
with urllib.request.urlopen(url, timeout=5) as response:
    summary = json.load(response)["data"]["summary"]
print(sum(1 for node in summary if node.get("raylet", {}).get("state") == "ALIVE"))
EOF
}

# Start a command in a session of its own, so `stop` can end it and all its children.
launch() {
    local name="$1"
    shift
    setsid "$@" >"$state_dir/$name.log" 2>&1 </dev/null &
    echo $! >"$state_dir/$name.pid"
}

wait_for() {
    local what="$1" seconds="$2" service="$3"
    shift 3
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ! is_running "$service"; then
            die "$service exited while waiting for $what; see $state_dir/$service.log"
        fi
        if ((SECONDS >= deadline)); then
            die "no $what after ${seconds}s; see $state_dir/$service.log"
        fi
        sleep 1
    done
}

two_nodes_alive() { [[ "$(alive_nodes)" == "2" ]]; }

ensure_databases() {
    psql_cmd -c "select 1" >/dev/null 2>&1 ||
        die "PostgreSQL does not answer at $pg_host:$pg_port as user $pg_user; start it (e.g. pg_ctlcluster 15 main start) or set S3DELTA_PG_HOST/S3DELTA_PG_PORT/S3DELTA_PG_USER"
    local db
    for db in "$mlflow_db" "$optuna_db"; do
        if [[ "$(psql_cmd -c "select 1 from pg_database where datname = '$db'")" != "1" ]]; then
            psql_cmd -c "create database \"$db\"" >/dev/null
            log "created database $db"
        fi
    done
}

check_ports_free() {
    local port
    for port in "$mlflow_port" "$ray_port" "$dashboard_port"; do
        if port_in_use "$port"; then
            die "port $port on 127.0.0.1 is taken; stop what holds it or choose another with S3DELTA_MLFLOW_PORT / S3DELTA_RAY_PORT / S3DELTA_DASHBOARD_PORT"
        fi
    done
}

write_env_file() {
    cat >"$state_dir/env.sh" <<EOF
# Source this to talk to the local cluster (written by deploy/local-cluster.sh start).
export RAY_AUTH_MODE=$RAY_AUTH_MODE
export PATH="$venv/bin:\$PATH"
export RAY_ADDRESS=http://127.0.0.1:$dashboard_port
export MLFLOW_TRACKING_URI=http://127.0.0.1:$mlflow_port
export S3DELTA_OPTUNA_STORAGE=postgresql+psycopg2://$pg_user@$pg_host:$pg_port/$optuna_db
EOF
}

start() {
    local service
    for service in "${services[@]}"; do
        if is_running "$service"; then
            die "$service already runs (pid $(pid_of "$service")); run '$0 stop' first"
        fi
    done
    [[ -x "$venv/bin/ray" && -x "$venv/bin/mlflow" ]] ||
        die "no ray/mlflow in $venv/bin; run scripts/install.sh or set S3DELTA_VENV"
    command -v psql >/dev/null || die "psql not found; run scripts/install-system.sh"
    check_ports_free
    mkdir -p "$state_dir"
    ensure_databases

    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false launch mlflow \
        "$venv/bin/mlflow" server \
        --backend-store-uri "postgresql+psycopg2://$pg_user@$pg_host:$pg_port/$mlflow_db" \
        --serve-artifacts --artifacts-destination "$state_dir/mlartifacts" \
        --host 127.0.0.1 --port "$mlflow_port" --workers 1
    log "mlflow starting (pid $(pid_of mlflow))"

    launch ray-head "$venv/bin/ray" start --head --block \
        --node-ip-address 127.0.0.1 --port "$ray_port" \
        --dashboard-host 127.0.0.1 --dashboard-port "$dashboard_port" \
        --dashboard-agent-listen-port "$(free_port)" \
        --ray-client-server-port "$(free_port)" \
        --temp-dir "$state_dir/ray-head" \
        --num-cpus "$node_cpus" --num-gpus 0 \
        --object-store-memory "$object_store_bytes" --disable-usage-stats
    log "ray head starting (pid $(pid_of ray-head))"

    wait_for "MLflow /health" 120 mlflow http_ok "http://127.0.0.1:$mlflow_port/health"
    wait_for "Ray dashboard" 120 ray-head http_ok "http://127.0.0.1:$dashboard_port/api/version"

    # A second node on the same host needs its own temp dir and agent ports.
    launch ray-worker "$venv/bin/ray" start --block \
        --address "127.0.0.1:$ray_port" --node-ip-address 127.0.0.1 \
        --dashboard-agent-listen-port "$(free_port)" \
        --temp-dir "$state_dir/ray-worker" \
        --num-cpus "$node_cpus" --num-gpus 0 \
        --object-store-memory "$object_store_bytes" --disable-usage-stats
    log "ray worker starting (pid $(pid_of ray-worker))"
    wait_for "2 alive Ray nodes" 120 ray-worker two_nodes_alive

    write_env_file
    log "up: MLflow http://127.0.0.1:$mlflow_port, Ray dashboard http://127.0.0.1:$dashboard_port, GCS 127.0.0.1:$ray_port"
    log "submit jobs after: source $state_dir/env.sh"
}

# Every process still in the session `launch` made for a service (some Ray processes
# start process groups of their own, but none leave the session).
session_pids() {
    ps -o pid= -s "$1" 2>/dev/null | tr -d ' ' || true
}

stop_group() {
    local service="$1" pid
    pid="$(pid_of "$service")" || return 0
    if kill -0 "$pid" 2>/dev/null; then
        # Ray's GCS may ignore SIGTERM; like `ray stop`, give a grace period, then KILL.
        local started=$SECONDS deadline=$((SECONDS + stop_grace))
        kill -TERM -- "-$pid" 2>/dev/null || true
        while kill -0 -- "-$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.5
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        log "stopped $service (session $pid, $((SECONDS - started))s)"
    fi
    local left until=$((SECONDS + 5))
    for left in $(session_pids "$pid"); do
        kill -KILL "$left" 2>/dev/null || true
    done
    # a killed process takes a moment to exit (a worker holding a model frees its memory
    # first): wait, so that a `start` right after finds the ports free
    while [[ -n "$(session_pids "$pid")" ]] && ((SECONDS < until)); do
        sleep 0.2
    done
    rm -f "$state_dir/$service.pid"
}

stop() {
    [[ -d "$state_dir" ]] || {
        log "nothing to stop ($state_dir does not exist)"
        return 0
    }
    local service
    for service in "${services[@]}"; do
        stop_group "$service"
    done
    rm -f "$state_dir/env.sh"
}

status() {
    local service down=0
    for service in mlflow ray-head ray-worker; do
        if is_running "$service"; then
            echo "$service: running (pid $(pid_of "$service"))"
        else
            echo "$service: stopped"
            down=1
        fi
    done
    if http_ok "http://127.0.0.1:$mlflow_port/health"; then
        echo "mlflow /health: ok"
    else
        echo "mlflow /health: no answer"
        down=1
    fi
    echo "ray alive nodes: $(alive_nodes || echo 0)"
    [[ -f "$state_dir/env.sh" ]] && grep '^export' "$state_dir/env.sh"
    return "$down"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status (see the header of this file for settings)" ;;
esac
