#!/usr/bin/env bash
# Runs pgbench (tpcb-like) and market-bench on one fresh PostgreSQL database,
# back to back, at the same concurrency, and prints both figures.
# market-bench starts `ets-ledger serve` (release build) on the database and
# drives the order book through the HTTP API over keep-alive connections.
# With nodes > 1, market-bench starts that many servers on the database and
# spreads the clients over them (the writer lease at work).
# Usage: scripts/bench-market.sh [clients] [seconds] [instruments] [nodes]
# Needs: PostgreSQL at $PGURL (default postgres://postgres@127.0.0.1:5432), pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-32}
seconds=${2:-20}
instruments=${3:-3}
nodes=${4:-1}
base=${PGURL:-postgres://postgres@127.0.0.1:5432}
db=ets_market_bench
bin=${CARGO_TARGET_DIR:-target}/release

cargo build --release --locked -p ets-bench -p ets-server >/dev/null
psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
pgbench -i -s 10 -q "$base/$db" >/dev/null 2>&1

echo "== pgbench -b tpcb-like -c $clients -j 2 -T $seconds"
pgbench -b tpcb-like -c "$clients" -j 2 -T "$seconds" "$base/$db" 2>/dev/null | grep -E "^(tps|latency average)"
echo "== market-bench --clients $clients --seconds $seconds --instruments $instruments --nodes $nodes"
"$bin/market-bench" --database-url "$base/$db" --server-binary "$bin/ets-ledger" \
  --clients "$clients" --seconds "$seconds" --instruments "$instruments" --nodes "$nodes"
