#!/usr/bin/env bash
# A login storm against one node: N clients at once (default 100), each a
# real client id with a wrong secret (so every request costs an argon2
# verification), then the same with the right secrets, and the server's peak
# resident memory (VmHWM) before and after. Prints figures; asserts nothing.
# Usage: scripts/bench-logins.sh [path/to/ets-ledger] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(readlink -f "${1:-target/release/ets-ledger}")
clients=${2:-100}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$binary" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
for n in $(seq 1 "$clients"); do
  (cd "$work" && "$binary" credential create --role finance --name "storm $n" 2>/dev/null)
done >"$work/credentials.jsonl"
python3 - "$port" "$server" "$work/credentials.jsonl" <<'PY'
import json, sys, threading, time, urllib.error, urllib.request
port, pid, path = sys.argv[1], sys.argv[2], sys.argv[3]
credentials = [json.loads(line) for line in open(path)]

def peak_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

def login(client_id, secret, statuses):
    body = json.dumps({"client_id": client_id, "client_secret": secret}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/auth/token", body,
                                     {"Content-Type": "application/json"})
    try:
        statuses.append(urllib.request.urlopen(request, timeout=60).status)
    except urllib.error.HTTPError as error:
        statuses.append(error.code)

def storm(secret_of):
    statuses = []
    threads = [threading.Thread(target=login, args=(c["client_id"], secret_of(c), statuses))
               for c in credentials]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    return took, counts

print(f"server peak RSS before the storm: {peak_kib() / 1024:.1f} MiB")
took, counts = storm(lambda c: "wrong")
print(f"{len(credentials)} wrong secrets at once: {took:.2f} s, statuses {counts}, "
      f"peak RSS {peak_kib() / 1024:.1f} MiB")
took, counts = storm(lambda c: c["client_secret"])
print(f"{len(credentials)} right secrets at once: {took:.2f} s, statuses {counts}, "
      f"peak RSS {peak_kib() / 1024:.1f} MiB")
PY
