#!/usr/bin/env bash
# Attacks the bedside surfaces of a running `seizure-ops up` as one clinician would
# (docs/hardening.md, "Bedside threat model"), with the same hostile clients the tests use,
# and prints what happened. Run it against two binaries to compare a fix with the code before
# it, side by side:
#   scripts/bedside-attack.sh target/debug/seizure-ops [PYTHON]
# PYTHON: a Python with `websockets` (default: the test venv scripts/test.sh installs).
# Everything runs on 127.0.0.1, bounded in count and time; the service stops at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$1")
python=${2:-${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}/venv-websockets/bin/python}
home=$(mktemp -d -t bedside-attack.XXXXXX)
out="$home/up.log"
cleanup() {
  [[ -n "${pid:-}" ]] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
  rm -rf "$home"
}
trap cleanup EXIT

cd "$home"
SEIZURE_OPS_HOME="$home" "$bin" up --epochs 1 --max-train-rows 230 \
  --synthetic-segments-per-class 10 --auth-listen 127.0.0.1:0 \
  --inference-listen 127.0.0.1:0 > "$out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q "Ctrl-C stops both services" "$out" && break
  kill -0 "$pid" 2> /dev/null || { cat "$out" >&2; exit 1; }
  sleep 0.5
done
auth=$(grep -oE 'auth +http://[0-9.:]+' "$out" | head -1 | awk '{print $2}')
inference=$(grep -oE 'inference +http://[0-9.:]+' "$out" | head -1 | awk '{print $2}')
password=$(grep -oE 'with password [^ ]+' "$out" | head -1 | awk '{print $3}')
token=$(curl -sf -X POST "$auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" |
  sed -E 's/.*"access_token":"([^"]+)".*/\1/')
ws="ws://${inference#http://}/monitor"
fds() { ls "/proc/$pid/fd" | wc -l; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

echo "bedside-attack: $bin"
echo "== 1. open a socket, DELETE its session over HTTP, x50 (sockets kept open by the client)"
before_fds=$(fds)
echo "{\"mode\":\"delete\",\"url\":\"$ws\",\"base\":\"$inference\",\"token\":\"$token\",\"count\":50,\"seconds\":60,\"wait\":2}" |
  "$python" "$here/../tests/pipeline/clients/monitor_ws_attack.py" | tee "$home/delete.json"
echo "server descriptors: before $before_fds, after $(fds); RSS $(rss) KiB"

echo "== 2. one WebSocket message of 1 MB"
echo "{\"mode\":\"oversize\",\"url\":\"$ws\",\"token\":\"$token\",\"bytes\":1000000}" |
  "$python" "$here/../tests/pipeline/clients/monitor_ws_attack.py"

echo "== 3. 100 s of EEG pushed twice at once to a live session (hop 178, 1 of 1)"
session=$(curl -sf -X POST "$inference/monitor/sessions" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"hop":178,"alarm_k":1,"alarm_n":1,"refractory_s":0}' |
  sed -E 's/.*"session_id":"([^"]+)".*/\1/')
body="$home/push.json"
"$python" -c 'import json; print(json.dumps({"samples": [0.0] * 17361}))' > "$body"
for i in 1 2; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$inference/monitor/sessions/$session/samples" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' --data-binary "@$body")
  echo "push $i: HTTP $code"
done

echo "== 4. a user logs in and is deleted; the revocation list, read anonymously"
curl -sf -o /dev/null -X POST "$auth/users" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d '{"username":"grace","password":"a-long-password-1","role":"clinician"}'
curl -sf -o /dev/null -X POST "$auth/login" -H 'content-type: application/json' \
  -d '{"username":"grace","password":"a-long-password-1"}'
curl -sf -o /dev/null -X DELETE "$auth/users/grace" -H "authorization: Bearer $token"
curl -s "$auth/.well-known/revocations.json"
echo
echo "sha256(grace) = $(printf grace | sha256sum | cut -d' ' -f1)"
