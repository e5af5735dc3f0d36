#!/usr/bin/env bash
# The settlement of a business day of many trades (issue 10) and the
# regulator's trade history export (issue 11), beside PostgreSQL's own COPY
# of the same rows, and the server's peak memory.
#
# Seeds one business day with N trades through the storage layer
# (settlement-seed: bids swept by sells, each trade with its postings and
# journal entry), then starts `ets-ledger serve` on that database and
# downloads GET /v1/settlements/{date} as JSON and as XLSX and
# GET /v1/audit/trades?format=csv, one process each so each peak RSS is its
# own; prints rows/s of each beside
# `COPY (SELECT … FROM trades WHERE business_date = …) TO STDOUT`.
# Usage: scripts/bench-settlement.sh [trades] [date]
#   SKIP_SEED=1 reuses the database a previous run seeded.
# Needs: PostgreSQL at $PGURL (default postgres://postgres@127.0.0.1:5432),
# psql, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
trades=${1:-1000000}
date=${2:-2026-06-01}
base=${PGURL:-postgres://postgres@127.0.0.1:5432}
db=ets_settlement_bench
url="$base/$db"
bin=${CARGO_TARGET_DIR:-target}/release
port=${PORT:-18090}

cargo build --release --locked -p ets-bench -p ets-server >/dev/null
if [ "${SKIP_SEED:-0}" != 1 ]; then
  psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  echo "== settlement-seed --trades $trades --date $date"
  "$bin/settlement-seed" --database-url "$url" --trades "$trades" --date "$date"
fi
rows=$(psql "$url" -tAc "SELECT count(*) FROM trades WHERE business_date = '$date'")
echo "trades on $date: $rows"

copy() {
  local started ended
  started=$(date +%s.%N)
  psql "$url" -qc "COPY (SELECT * FROM trades WHERE business_date = '$date' ORDER BY executed_at, id) TO STDOUT" >/dev/null
  ended=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'COPY:  {s:.2f} s, {int(sys.argv[3])/s:.0f} rows/s')" "$started" "$ended" "$rows"
}

download() {
  local format=$1 role=$2 path=$3 log pid token started ended bytes
  log=$(mktemp)
  "$bin/ets-ledger" serve --database-url "$url" --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
  local credential client secret
  credential=$("$bin/ets-ledger" credential create --role "$role" --name "settlement bench" --database-url "$url")
  client=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$credential")
  secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$credential")
  token=$(curl -sf "http://127.0.0.1:$port/v1/auth/token" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"$client\",\"client_secret\":\"$secret\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  local before
  before=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  started=$(date +%s.%N)
  bytes=$(curl -sf -H "Authorization: Bearer $token" -o "/tmp/settlement-bench.$format" \
    -w '%{size_download} %{time_starttransfer}' "http://127.0.0.1:$port$path")
  ended=$(date +%s.%N)
  local first_byte=${bytes#* }
  bytes=${bytes% *}
  local peak
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[6]}: {s:.2f} s, {int(sys.argv[3])/s:.0f} rows/s, {int(sys.argv[4])/1e6:.0f} MB, server peak RSS {int(sys.argv[5])/1024:.0f} MB (before the download {int(sys.argv[7])/1024:.0f} MB), answer began after {float(sys.argv[8]):.2f} s')" \
    "$started" "$ended" "$rows" "$bytes" "$peak" "$format" "$before" "$first_byte"
  rm -f "$log"
}

copy
download json finance "/v1/settlements/$date?format=json"
copy
download xlsx finance "/v1/settlements/$date?format=xlsx"
copy
download csv regulator "/v1/audit/trades?format=csv"
copy
