#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the postgres image runs
# /docker-entrypoint-initdb.d/*.sh). POSTGRES_DB holds MLflow's tables; Optuna gets its
# own database on the same server so that the two schemas never collide.
set -eu
optuna_db="${S3DELTA_OPTUNA_DB:-optuna}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE \"${optuna_db}\" OWNER \"${POSTGRES_USER}\";"
echo "created database ${optuna_db} for the Optuna storage"
