#!/usr/bin/env bash
# Streaming throughput of bedside monitoring (docs/bedside.md): how many sessions one
# inference process serves in real time. Runs the real pipeline on the given CSV in a temp
# directory (release build), starts auth and inference, and for each session count streams
# that many WebSocket sessions at 173.61 Hz with a 0.5 s hop (one 87-sample push per session
# every 0.5 s, each answered before the next is due) for BENCH_SECONDS (default 30), with the
# `websockets` client (scripts/install-test-tools.sh installs its venv). Reports, per count,
# pushes answered, sessions falling behind, round-trip p50/p99, and the inference process's
# CPU (% of one core) and peak RSS. The load generator shares the machine's cores.
#
#   scripts/bench-monitor.sh [CSV] [SESSIONS...]     (default sessions: 500 1000 2000 3000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
csv=$(realpath "${1:-$root/../shared/data/epileptic_seizure_recognition.csv}")
shift || true
counts=("$@")
((${#counts[@]})) || counts=(500 1000 2000 3000)
seconds=${BENCH_SECONDS:-30}
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
python=$tools/venv-websockets/bin/python
[[ -x $python ]] || { echo "bench-monitor: no $python (run scripts/install-test-tools.sh)" >&2; exit 1; }
cd "$root"
cargo build --release -q -p seizure-ops
bin=${CARGO_TARGET_DIR:-$root/target}/release/seizure-ops
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export RUST_LOG=warn
"$bin" pipeline --home "$work" --raw-csv "$csv" >/dev/null
ADMIN_USERNAME=bench ADMIN_PASSWORD=bench-password-123 \
  "$bin" auth --dev-ephemeral-key --listen 127.0.0.1:18101 --database-url auth.db 2>auth.log &
pids+=($!)
for _ in $(seq 50); do curl -sf localhost:18101/health/ready >/dev/null && break; sleep 0.1; done
# One user drives every session here (a load generator): its limits are raised above them.
max=$(printf '%s\n' "${counts[@]}" | sort -n | tail -1)
MAX_MONITOR_SESSIONS=$((max + 100)) MAX_MONITOR_SESSIONS_PER_USER=$((max + 100)) \
  MAX_PREDICTIONS_PER_USER=$((max + 100)) MAX_PREDICTIONS_IN_PROGRESS=$((max + 100)) \
  MAX_CONNECTIONS=$((max + 100)) MAX_MONITOR_SOCKETS=$((max + 100)) \
  MAX_MONITOR_SOCKETS_PER_USER=$((max + 100)) MAX_SESSION_OPENS_PER_MINUTE=$((max + 100)) \
  MEMORY_LIMIT_BYTES=$((16 << 30)) \
  "$bin" inference --listen 127.0.0.1:18102 --production-dir production \
  --patient-store patients/store --database-url predictions.db \
  --jwks-url http://127.0.0.1:18101/.well-known/jwks.json 2>inference.log &
inference=$!
pids+=($inference)
for _ in $(seq 100); do curl -sf localhost:18102/health/ready >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST localhost:18101/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-123"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
ulimit -n 65536 2>/dev/null || true
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$inference/stat"; }
printf '%-9s %-8s %-9s %-8s %-7s %-10s %-10s %-9s %-8s\n' sessions pushes answered behind errors "rtt p50" "rtt p99" "cpu %" "rss MiB"
for n in "${counts[@]}"; do
  before=$(cpu)
  started=$(date +%s.%N)
  out=$("$python" "$root/scripts/lib/monitor-load.py" "ws://127.0.0.1:18102/monitor" "$token" "$csv" "$n" "$seconds")
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  after=$(cpu)
  rss=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$inference/status")
  echo "$out" > "monitor-$n.json"
  echo "$out" | python3 -c "
import json, sys
r = json.load(sys.stdin)
cpu = ($after - $before) / $ticks / $elapsed * 100
print(f\"{r['sessions']:<9} {r['sends']:<8} {r['updates']:<9} {r['behind']:<8} {r['errors']:<7} {r['rtt_ms']['p50']:<10} {r['rtt_ms']['p99']:<10} {cpu:<9.0f} $rss   (client cpu {r['client_cpu_s']} s)\")
"
done
grep -i "error\|panic" inference.log | head -5 || true
