#!/usr/bin/env bash
# End-to-end HTTP benchmark of the inference service (README "Benchmarks"): runs the real
# pipeline on the given CSV in a temp directory with the release binaries, starts auth and
# inference, logs in, and loads `GET /predict/{id}` with wrk at concurrency 1 and 32.
#
#   scripts/bench-http.sh [CSV]        (default: ../shared/data/epileptic_seizure_recognition.csv)
#
# Needs wrk (apt-get install wrk). Client and server share this machine's cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
csv=$(realpath "${1:-$root/../shared/data/epileptic_seizure_recognition.csv}")
command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cd "$root"
cargo build --release -q -p preprocessing -p training -p evaluate -p patient-pull -p auth -p inference
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export LOG_FORMAT=json RUST_LOG=warn TRACKING_DIR="$work/tracking"
"$bin/preprocessing" run --input "$csv" --no-dvc
"$bin/training" --no-dvc >/dev/null
"$bin/evaluate" run --no-dvc >/dev/null
"$bin/patient-pull" --no-dvc >/dev/null
ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password-123 \
  "$bin/auth" --dev-ephemeral-key --listen 127.0.0.1:18001 --database-url auth.db 2>auth.log &
pids+=($!)
for _ in $(seq 50); do curl -sf localhost:18001/health/ready >/dev/null && break; sleep 0.1; done
"$bin/inference" --listen 127.0.0.1:18002 \
  --jwks-url http://127.0.0.1:18001/.well-known/jwks.json 2>inference.log &
inference=$!
pids+=($inference)
for _ in $(seq 50); do curl -sf localhost:18002/health/ready >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST localhost:18001/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-123"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
patient=$(sed -n 2p patients/labels.csv | cut -d, -f1)
url="http://127.0.0.1:18002/predict/$patient"
curl -sf "$url" -H "authorization: Bearer $token" >/dev/null
echo "== GET /predict/$patient, concurrency 1"
wrk -t1 -c1 -d10s --latency -H "authorization: Bearer $token" "$url"
echo "== GET /predict/$patient, concurrency 32"
wrk -t2 -c32 -d10s --latency -H "authorization: Bearer $token" "$url"
echo "== inference memory after the runs"
grep -E 'VmRSS|VmHWM' "/proc/$inference/status"
