#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document with schemathesis:
# no server error, no response outside the documented schemas, status codes
# and content types, and no invalid input accepted. Starts the server on a
# fresh SQLite database with an admin token, and stops it afterwards.
# Usage: scripts/fuzz-api.sh [path/to/ets-ledger] [max-examples]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(readlink -f "${1:-target/debug/ets-ledger}")
examples=${2:-50}
venv=target/fuzz-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$binary" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
credential=$(cd "$work" && "$binary" credential create --role admin --name fuzzer 2>/dev/null)
token=$(python3 - "$port" "$credential" <<'PY'
import json, sys, urllib.request
port, credential = sys.argv[1], json.loads(sys.argv[2])
body = json.dumps({"client_id": credential["client_id"], "client_secret": credential["client_secret"]}).encode()
request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/auth/token", body, {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$examples" --seed 20261128 --no-color
