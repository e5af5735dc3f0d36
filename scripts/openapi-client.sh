#!/usr/bin/env bash
# Generates a typed Python client from api-spec/openapi.yaml with a stock
# generator (openapi-python-client), failing on any warning or on any model or
# operation it leaves out, installs it, and drives real calls with it against
# the server on a fresh SQLite database (scripts/openapi_client_drive.py).
# Stops the server and removes its folder afterwards.
# Usage: scripts/openapi-client.sh [path/to/ets-ledger]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
binary=$(readlink -f "${1:-target/debug/ets-ledger}")
if [ ! -x "$binary" ]; then
  echo "openapi-client: no executable server binary at $binary" >&2
  exit 1
fi

# The generator (which brings httpx and attrs, all the generated client needs,
# and ruff, which formats what it generates) and the generated project's build
# backend, pinned. Reinstalled when the pins change.
requirements="openapi-python-client==0.29.1 poetry-core==2.5.0"
venv=$root/target/client-venv
if [ ! -x "$venv/bin/openapi-python-client" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one word per requirement
  "$venv/bin/pip" install -q $requirements
  echo "$requirements" >"$venv/.requirements"
fi
python="$venv/bin/python"

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== generating the client from api-spec/openapi.yaml"
# PATH: the generator runs ruff (its own dependency) on what it writes.
if ! PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate \
  --path "$root/api-spec/openapi.yaml" --output-path "$work/client" --fail-on-warning \
  >"$work/generate.log" 2>&1; then
  cat "$work/generate.log"
  echo "openapi-client: the generator failed or warned (see above)" >&2
  exit 1
fi
cat "$work/generate.log"
# It prints one "Generating <path>" line when all is well: any other line is
# a warning, whatever its words.
others=$(grep -Ev '^Generating ' "$work/generate.log" || true)
if [ -n "$others" ]; then
  if grep -Eiq 'warning|unable to|skipp|could not|cannot|error' <<<"$others"; then
    echo "openapi-client: the generator warned (see above)" >&2
  else
    echo "openapi-client: the generator printed more than its 'Generating' line (see above); treated as a warning" >&2
  fi
  exit 1
fi

# Nothing left out: a class for every object and enum schema, a module for
# every operation, and every documented status of each handled by it.
"$python" - "$root/api-spec/openapi.yaml" "$work/client" <<'PY'
import importlib, inspect, sys
from ruamel.yaml import YAML
from openapi_python_client.strings import snake_case

document = YAML(typ="safe").load(open(sys.argv[1], encoding="utf-8"))
sys.path.insert(0, sys.argv[2])
models = importlib.import_module("ets_ledger_client.models")
missing = []
schemas = document["components"]["schemas"]
for name, schema in schemas.items():
    if (schema.get("type") == "object" or "enum" in schema) and not hasattr(models, name):
        missing.append(f"model {name}")
operations = 0
for path, item in document["paths"].items():
    for method, operation in item.items():
        if method not in ("get", "put", "post", "delete", "patch"):
            continue
        operations += 1
        tag, name = snake_case(operation["tags"][0]), snake_case(operation["operationId"])
        try:
            module = importlib.import_module(f"ets_ledger_client.api.{tag}.{name}")
        except ImportError:
            missing.append(f"operation {method.upper()} {path} ({tag}.{name})")
            continue
        source = inspect.getsource(module._parse_response)
        for status in operation["responses"]:
            if status != "default" and f"response.status_code == {status}" not in source:
                missing.append(f"response {status} of {method.upper()} {path}")
if missing:
    sys.exit("openapi-client: the generated client lacks: " + "; ".join(missing))
print(f"the generated client has all {len(schemas)} schemas' models and enums and all {operations} operations with every documented status")
PY

echo "== installing the client"
"$venv/bin/pip" install -q --no-build-isolation --no-deps --force-reinstall "$work/client"
"$venv/bin/pip" check

echo "== starting the server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$binary" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
server=$!
ready=
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  cat "$work/serve.log" >&2
  echo "openapi-client: the server did not become ready on 127.0.0.1:$port" >&2
  exit 1
fi
credential=$(cd "$work" && "$binary" credential create --role admin --name "openapi client" 2>/dev/null)

echo "== driving the server with the typed client"
if ! "$python" "$root/scripts/openapi_client_drive.py" "http://127.0.0.1:$port" "$credential"; then
  echo "---- server log (last 50 lines)" >&2
  tail -n 50 "$work/serve.log" >&2
  exit 1
fi
