#!/usr/bin/env bash
# One node on PostgreSQL under 32 market-bench clients placing orders while a
# login storm hits it: STORM clients at once, each a real client id with a
# wrong secret (an argon2 verification each), again and again for the whole
# run. Prints pgbench's figure from the same machine, the orders/s, the
# storm's answers, and the server's peak resident memory (VmHWM) before and
# after. Asserts nothing.
# Usage: scripts/bench-overload.sh [seconds] [storm clients]
# Needs: PostgreSQL at $PGURL (default postgres://postgres@127.0.0.1:5432),
# pgbench, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
storm=${2:-100}
base=${PGURL:-postgres://postgres@127.0.0.1:5432}
db=ets_overload_bench
bin=$(readlink -f "${CARGO_TARGET_DIR:-target}/release")

# ETS_BENCH_PREBUILT=1 uses the release binaries as they are.
[ -n "${ETS_BENCH_PREBUILT:-}" ] || cargo build --release --locked -p ets-bench -p ets-server >/dev/null
psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=
cleanup() {
  touch "$work/stop"
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT

pgbench -i -s 10 -q "$base/$db" >/dev/null 2>&1
echo "== pgbench -b tpcb-like -c 32 -j 2 -T $seconds"
pgbench -b tpcb-like -c 32 -j 2 -T "$seconds" "$base/$db" 2>/dev/null | grep -E "^(tps|latency average)"

export DATABASE_URL="$base/$db"
(cd "$work" && exec "$bin/ets-ledger" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
server=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
for n in $(seq 1 "$storm"); do
  (cd "$work" && "$bin/ets-ledger" credential create --role finance --name "storm $n" 2>/dev/null)
done >"$work/credentials.jsonl"

python3 - "$port" "$server" "$work/credentials.jsonl" "$work/stop" <<'PY' &
import json, os, sys, threading, time, urllib.error, urllib.request
port, pid, path, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
credentials = [json.loads(line) for line in open(path)]
statuses = {}
lock = threading.Lock()

def login(client_id):
    body = json.dumps({"client_id": client_id, "client_secret": "wrong"}).encode()
    while not os.path.exists(stop):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/auth/token", body,
                                         {"Content-Type": "application/json"})
        try:
            status = urllib.request.urlopen(request, timeout=60).status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = "error"
            time.sleep(0.1)
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

threads = [threading.Thread(target=login, args=(c["client_id"],)) for c in credentials]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(f"== login storm: {len(credentials)} clients with wrong secrets; answers {dict(sorted(statuses.items(), key=str))}")
PY
storm_pid=$!

peak() { awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$server/status"; }
echo "== server peak RSS before the load: $(peak)"
echo "== market-bench --clients 32 --seconds $seconds, during the storm"
"$bin/market-bench" --database-url "$DATABASE_URL" --url "http://127.0.0.1:$port" \
  --clients 32 --seconds "$seconds" --instruments 3
touch "$work/stop"
wait "$storm_pid"
echo "== server peak RSS after: $(peak)"
