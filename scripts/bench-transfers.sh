#!/usr/bin/env bash
# Runs pgbench (tpcb-like) and transfer-bench against one fresh PostgreSQL
# database, back to back, at the same concurrency, and prints both figures.
# Usage: scripts/bench-transfers.sh [clients] [seconds]
# Needs: PostgreSQL at $PGURL (default postgres://postgres@127.0.0.1:5432), pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-32}
seconds=${2:-20}
base=${PGURL:-postgres://postgres@127.0.0.1:5432}
db=ets_bench

cargo build --release --locked -p ets-bench >/dev/null
psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
pgbench -i -s 10 -q "$base/$db" >/dev/null 2>&1

echo "== pgbench -b tpcb-like -c $clients -j 2 -T $seconds"
pgbench -b tpcb-like -c "$clients" -j 2 -T "$seconds" "$base/$db" 2>/dev/null | grep -E "^(tps|latency average)"
echo "== transfer-bench --workers $clients --seconds $seconds"
target/release/transfer-bench --database-url "$base/$db" --workers "$clients" --seconds "$seconds"
psql "$base/postgres" -qc "DROP DATABASE $db"
