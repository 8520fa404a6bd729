#!/usr/bin/env bash
# The main job on the embedded default (README quick start): installs s3delta, then runs
# the quickstart sweep (SST-2, s3delta vs random at 0.01%, Optuna-tuned, 2 seeds) on an
# in-process Ray, with MLflow and Optuna in SQLite under ./runs, and prints the results
# table and the paired comparison (which says when the run is too small to decide).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export S3DELTA_HOME="${S3DELTA_HOME:-$PWD/runs}"
sweep="${1:-examples/quickstart.yaml}"
name=$(.venv/bin/python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$sweep")
.venv/bin/s3delta validate "$sweep"
.venv/bin/s3delta run "$sweep" --resume
.venv/bin/s3delta results "$name" --raw   # every cell: mean and std over seeds
.venv/bin/s3delta results "$name"         # s3delta - random paired by seed, 95% interval, verdict
.venv/bin/s3delta report "$name" --out "$S3DELTA_HOME/$name/report" || true
echo "Results: $S3DELTA_HOME (MLflow UI: .venv/bin/s3delta ui)"
