#!/usr/bin/env bash
# The hostile-input and fault figures (docs/hardening.md), with the release binaries:
#  1. auth's peak RSS under 500 concurrent wrong logins (each one a real argon2id check
#     unless shed), and how many were checked, shed (503) or throttled (429);
#  2. predictions answered and audit records lost across a 30 s PostgreSQL outage: a
#     steady client for 60 s, the audit database stopped at 15 s and started at 45 s; after
#     recovery, rows in prediction_log must equal the answered predictions.
#
#   scripts/bench-faults.sh [CSV]   (default: ../shared/data/epileptic_seizure_recognition.csv,
#                                    the synthetic data set if it is missing)
# Needs PostgreSQL's binaries (scripts/install-test-tools.sh). Client and servers share
# this machine's cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
csv=${1:-$root/../shared/data/epileptic_seizure_recognition.csv}
cd "$root"
cargo build --release -q -p preprocessing -p training -p evaluate -p patient-pull -p auth -p inference
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$root/scripts/postgres-server.sh" stop "$work/pg" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 100); do curl -sf "$1" > /dev/null && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

cd "$work"
export LOG_FORMAT=json RUST_LOG=warn TRACKING_DIR="$work/tracking"
if [[ -f "$csv" ]]; then
  "$bin/preprocessing" run --input "$csv" --no-dvc
else
  echo "bench-faults: no real data at $csv; using the synthetic data set" >&2
  "$bin/preprocessing" synth --out raw.csv && "$bin/preprocessing" run --input raw.csv --no-dvc
fi
EPOCHS=${EPOCHS:-3} "$bin/training" --no-dvc > /dev/null
"$bin/evaluate" run --no-dvc > /dev/null
"$bin/patient-pull" --no-dvc > /dev/null

auth_port=$(free_port)
ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password-123 LOGIN_MAX_FAILURES_PER_ADDRESS=100000 \
  "$bin/auth" --dev-ephemeral-key --listen "127.0.0.1:$auth_port" --database-url auth.db 2> auth.log &
auth=$!
pids+=("$auth")
wait_ready "http://127.0.0.1:$auth_port/health/ready"

echo "== 1. 500 concurrent wrong logins (distinct users, one client address)"
python3 - "$auth_port" <<'PY'
import collections, concurrent.futures, json, sys, urllib.request, urllib.error
port = sys.argv[1]
def attempt(i):
    body = json.dumps({"username": f"user{i}", "password": "wrong password"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/login", body, {"content-type": "application/json"})
    try:
        return urllib.request.urlopen(request, timeout=60).status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return type(e).__name__
with concurrent.futures.ThreadPoolExecutor(500) as pool:
    outcomes = collections.Counter(pool.map(attempt, range(500)))
print("answers:", dict(outcomes))
PY
grep -E 'VmHWM|VmRSS' "/proc/$auth/status" | sed 's/^/auth /'

echo "== 2. a 30 s PostgreSQL outage under a steady prediction stream"
pg_port=$(free_port)
"$root/scripts/postgres-server.sh" start "$work/pg" "$pg_port" > /dev/null
inference_port=$(free_port)
"$bin/inference" --listen "127.0.0.1:$inference_port" \
  --database-url "postgres://postgres@127.0.0.1:$pg_port/postgres" \
  --audit-spill-file "$work/spill.jsonl" \
  --jwks-url "http://127.0.0.1:$auth_port/.well-known/jwks.json" 2> inference.log &
pids+=($!)
wait_ready "http://127.0.0.1:$inference_port/health/ready"
token=$(curl -sf -X POST "127.0.0.1:$auth_port/login" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-123"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
patient=$(sed -n 2p patients/labels.csv | cut -d, -f1)
( sleep 15; "$root/scripts/postgres-server.sh" stop "$work/pg" > /dev/null; echo "   15 s: PostgreSQL stopped"
  sleep 30; "$root/scripts/postgres-server.sh" start "$work/pg" "$pg_port" > /dev/null; echo "   45 s: PostgreSQL started" ) &
outage=$!
python3 "$root/scripts/lib/request-stream.py" "http://127.0.0.1:$inference_port/predict/$patient" \
  --header "authorization: Bearer $token" --workers 4 --seconds 60 --out stream.json
echo "   answers: $(cat stream.json)"
python3 -c 'import json; print(json.load(open("stream.json"))["statuses"].get("200", 0))' > answered.txt
wait "$outage"
answered=$(cat answered.txt)
started=$SECONDS
for _ in $(seq 120); do
  pending=$(curl -sf "127.0.0.1:$inference_port/health/ready" | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit"]["spill_pending"])' || echo unknown)
  [[ "$pending" == 0 ]] && break
  sleep 1
done
rows=$(psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc 'SELECT count(*) FROM prediction_log')
spilled=$(curl -sf "127.0.0.1:$inference_port/metrics" | sed -n 's/^audit_spilled_records_total //p')
echo "predictions answered: $answered; audit rows: $rows; spilled and written back: $spilled; lost: $((answered - rows)); spill file empty $((SECONDS - started)) s after the stream"
((answered == rows)) || { echo "bench-faults: audit records lost" >&2; exit 1; }
