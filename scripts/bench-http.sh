#!/usr/bin/env bash
# End-to-end HTTP benchmark of the inference service (README "Benchmarks"): runs the real
# pipeline on the given CSV in a temp directory with the release binaries, starts auth and
# inference, logs in, and loads `GET /predict/{id}` with wrk at concurrency 1 and 32.
# Then, side by side with a peer serving the same model: `mlflow models serve` (MLflow's
# own server, on the model directory the pipeline promoted, through its ONNX flavour), the
# same 23 raw recordings per request (ours: Open Inference Protocol `infer`; MLflow:
# `/invocations`), the same wrk load, alternating, BENCH_ROUNDS rounds (default 3); medians
# and the ratio are printed. The peer needs the project's MLflow venv
# (scripts/install-test-tools.sh); without it that part is skipped, saying so.
#
#   scripts/bench-http.sh [CSV]        (default: ../shared/data/epileptic_seizure_recognition.csv)
#
# Needs wrk (apt-get install wrk). Clients and servers share this machine's cores.
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

mlflow=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}/venv-mlflow/bin/mlflow
if [[ ! -x "$mlflow" ]]; then
  echo "== SKIPPED the side-by-side run: no $mlflow (run scripts/install-test-tools.sh)"
  exit 0
fi
# MLflow's scoring server: uvicorn, one worker per core by default (MLFLOW_MODELS_WORKERS).
"$mlflow" models serve -m "$work/production" --env-manager local --host 127.0.0.1 \
  --port 18003 >mlflow-serve.log 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -sf localhost:18003/ping >/dev/null && break; sleep 0.2; done
curl -sf localhost:18003/ping >/dev/null || { cat mlflow-serve.log >&2; exit 1; }
python3 "$root/scripts/lib/peer-bodies.py" "$csv" "$work"
model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' production/model.json)
ours_url="http://127.0.0.1:18002/v2/models/$model/infer"
peer_url="http://127.0.0.1:18003/invocations"
# Both answer the same request with the same probabilities before anything is timed.
python3 - "$work" "$token" "$ours_url" "$peer_url" <<'PY'
import json, sys, urllib.request
work, token, ours, peer = sys.argv[1:]
def post(url, body, headers):
    request = urllib.request.Request(url, data=open(body, "rb").read(), headers={"Content-Type": "application/json", **headers})
    return json.load(urllib.request.urlopen(request))
a = post(ours, f"{work}/oip.json", {"authorization": f"Bearer {token}"})
a = next(o["data"] for o in a["outputs"] if o["name"] == "probability")
b = post(peer, f"{work}/mlflow.json", {})["predictions"]
b = b["probability"] if isinstance(b, dict) else b
worst = max(abs(x - y) for x, y in zip(a, b))
print(f"same request, same answers: largest difference {worst:.1e} over {len(a)} recordings")
assert len(a) == len(b) and worst <= 1e-5, (a, b)
PY
results=$work/wrk-results.txt
run_wrk() { # SERVER CONCURRENCY URL BODY [wrk options...]
  local server=$1 conc=$2 url=$3 body=$4 threads=1
  shift 4
  (( conc > 1 )) && threads=2
  WRK_BODY=$body wrk -t"$threads" -c"$conc" -d"${BENCH_SECONDS:-10}"s --latency \
    -s "$root/scripts/lib/wrk-post.lua" "$@" "$url" | awk -v s="$server" -v c="$conc" '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000 }
      /Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
      /Non-2xx/ { bad = $NF }
      END { if (bad > 0) { print s ": " bad " non-2xx answers" > "/dev/stderr"; exit 1 }
            print s, c, rps, p50, p99 }' >>"$results"
}
for round in $(seq "${BENCH_ROUNDS:-3}"); do
  echo "== side by side, round $round"
  for conc in 1 32; do
    run_wrk seizure-ops "$conc" "$ours_url" "$work/oip.json" -H "authorization: Bearer $token"
    run_wrk mlflow-models-serve "$conc" "$peer_url" "$work/mlflow.json"
  done
done
echo "== side by side: 23 recordings per request, medians of ${BENCH_ROUNDS:-3} rounds of ${BENCH_SECONDS:-10} s"
python3 "$root/scripts/lib/wrk-summary.py" "$results"
