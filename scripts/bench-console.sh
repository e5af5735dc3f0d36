#!/usr/bin/env bash
# The console's page render times on the demo data (issue 13: goal < 200 ms
# each): the demo city on the embedded database, an admin person signed in
# with a TOTP code computed here, then each page asked for N times in turn
# over one keep-alive connection; prints the median and the slowest tenth
# of each. Prints figures; asserts nothing.
# Usage: scripts/bench-console.sh [path/to/ets-ledger] [requests per page]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(readlink -f "${1:-target/release/ets-ledger}")
requests=${2:-50}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && "$binary" demo --out-dir . >demo.json 2>/dev/null \
  && "$binary" user create --role admin --name bench --login bench >person.json 2>/dev/null)
(cd "$work" && exec "$binary" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
python3 - "$port" "$work" "$requests" <<'PY'
import base64, hashlib, hmac, http.client, json, statistics, struct, sys, time, urllib.parse
port, work, requests = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
demo = json.load(open(f"{work}/demo.json"))
person = json.load(open(f"{work}/person.json"))
secret = person["totp_uri"].split("secret=")[1].split("&")[0]
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = digest[-1] & 15
code = "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000)
connection = http.client.HTTPConnection("127.0.0.1", port)
form = urllib.parse.urlencode({"login": "bench", "password": person["password"], "totp": code})
connection.request("POST", "/console/login", form,
                   {"Content-Type": "application/x-www-form-urlencoded"})
answer = connection.getresponse()
answer.read()
cookie = answer.getheader("set-cookie").split(";")[0]
participant = demo["participants"][0]["id"] if isinstance(demo["participants"], list) else None
invoice = demo["invoices"]["partly_paid"]
connection.request("GET", "/console/settlements", headers={"Cookie": cookie})
answer = connection.getresponse()
answer.read()
settlement = answer.getheader("location") or "/console/settlements"
pages = ["/console/", "/console/trades", "/console/participants", "/console/invoices",
         f"/console/invoices/{invoice}", settlement, "/console/compliance", "/console/journal"]
if participant:
    pages.insert(3, f"/console/participants/{participant}")
print(f"{'page':<48} {'median':>9} {'p90':>9} {'bytes':>8}")
for page in pages:
    times, size = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", page, headers={"Cookie": cookie})
        answer = connection.getresponse()
        body = answer.read()
        times.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            sys.exit(f"{page}: {answer.status}")
        size = len(body)
    times.sort()
    p90 = times[int(len(times) * 0.9) - 1]
    print(f"{page[:48]:<48} {statistics.median(times):>7.1f}ms {p90:>7.1f}ms {size:>8}")
PY
