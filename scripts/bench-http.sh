#!/usr/bin/env bash
# End-to-end HTTP benchmark of the inference service (README "Benchmarks"): runs the real
# pipeline on the given CSV in a temp directory with the release binaries, starts auth and
# inference, logs in, and loads `GET /predict/{id}` with wrk at concurrency 1 and 32.
# Then, side by side with peers serving the same model directory the pipeline promoted
# (through its MLflow ONNX flavour): `mlflow models serve` and Seldon MLServer with
# mlserver-mlflow; the same 23 raw recordings per request (ours and MLServer: Open Inference
# Protocol `infer`; MLflow: `/invocations`), checked to give the same answers, then the same
# wrk load, alternating, BENCH_ROUNDS rounds (default 3); medians and ratios are printed. The
# peers need the project's MLflow venv (scripts/install-test-tools.sh; without it that part is
# skipped, saying so); MLServer's venv is installed by this script.
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
# One user drives every connection here (a load generator, not a clinician): its limit of
# predictions in progress is raised above the 32 connections, or most answers would be 429.
MAX_PREDICTIONS_PER_USER=64 "$bin/inference" --listen 127.0.0.1:18002 \
  --jwks-url http://127.0.0.1:18001/.well-known/jwks.json 2>inference.log &
inference=$!
pids+=($inference)
for _ in $(seq 50); do curl -sf localhost:18002/health/ready >/dev/null && break; sleep 0.1; done
token=$(curl -sf -X POST localhost:18001/login -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password-123"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
patient=$(sed -n 2p patients/labels.csv | cut -d, -f1)
url="http://127.0.0.1:18002/predict/$patient"
curl -sf "$url" -H "authorization: Bearer $token" >/dev/null
# A run with any error answer is a failure, not a figure.
# (wrk leaves timeouts and broken connections out of its latencies: they fail the run too.)
wrk_get() { # THREADS CONNECTIONS
  wrk -t"$1" -c"$2" -d10s --timeout 10s --latency -H "authorization: Bearer $token" "$url" \
    | tee wrk.out
  if grep -qE "Non-2xx|Socket errors" wrk.out; then
    echo "bench-http: error answers or socket errors (above)" >&2
    exit 1
  fi
}
echo "== GET /predict/$patient, concurrency 1"
wrk_get 1 1
echo "== GET /predict/$patient, concurrency 32"
wrk_get 2 32
echo "== inference memory after the runs"
grep -E 'VmRSS|VmHWM' "/proc/$inference/status"

mlflow=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}/venv-mlflow/bin/mlflow
if [[ ! -x "$mlflow" ]]; then
  echo "== SKIPPED the side-by-side run: no $mlflow (run scripts/install-test-tools.sh)"
  exit 0
fi
model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' production/model.json)
# The peers get one worker process per core, each with a one-thread onnxruntime session (the
# flavour's `onnx_session_options`), so neither side oversubscribes the cores: ours runs one
# thread per core too. Their copy of the model directory says so in its MLmodel.
cores=$(nproc)
cp -r "$work/production" "$work/peer-model"
sed -i 's/^    onnx_session_options: null$/    onnx_session_options: {intra_op_num_threads: 1, inter_op_num_threads: 1}/' \
  "$work/peer-model/MLmodel"
grep -q "intra_op_num_threads: 1" "$work/peer-model/MLmodel"
# MLflow's scoring server (uvicorn).
PATH="$(dirname "$mlflow"):$PATH" MLFLOW_MODELS_WORKERS=$cores "$mlflow" models serve \
  -m "$work/peer-model" --env-manager local --host 127.0.0.1 --port 18003 >mlflow-serve.log 2>&1 &
pids+=($!)
# Seldon MLServer with its MLflow runtime on the same model, one inference worker per core; it
# speaks the Open Inference Protocol, so it gets exactly our request. Its venv is installed here
# (a benchmark-only tool, not in CI).
source "$root/scripts/lib/venv.sh"
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
install_venv "$tools" venv-mlserver "$root/scripts/requirements-mlserver.txt"
mkdir -p mlserver
printf '{"http_port": 18004, "grpc_port": 18005, "metrics_port": 18006, "parallel_workers": %s}' \
  "$cores" >mlserver/settings.json
printf '{"name": "%s", "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": "%s"}}' \
  "$model" "$work/peer-model" >mlserver/model-settings.json
PATH="$tools/venv-mlserver/bin:$PATH" "$tools/venv-mlserver/bin/mlserver" start mlserver \
  >mlserver.log 2>&1 &
pids+=($!)
ready() { curl -sf "$1" >/dev/null; }
for _ in $(seq 600); do
  ready localhost:18003/ping && ready "localhost:18004/v2/models/$model/ready" && break
  sleep 0.2
done
ready localhost:18003/ping || { cat mlflow-serve.log >&2; exit 1; }
ready "localhost:18004/v2/models/$model/ready" || { cat mlserver.log >&2; exit 1; }
python3 "$root/scripts/lib/peer-bodies.py" "$csv" "$work"
ours_url="http://127.0.0.1:18002/v2/models/$model/infer"
mlflow_url="http://127.0.0.1:18003/invocations"
mlserver_url="http://127.0.0.1:18004/v2/models/$model/infer"
# All answer the same request with the same probabilities before anything is timed.
python3 - "$work" "$token" "$ours_url" "$mlflow_url" "$mlserver_url" <<'PY'
import json, sys, urllib.request
work, token, ours, mlflow, mlserver = sys.argv[1:]
def post(url, body, headers):
    request = urllib.request.Request(url, data=open(body, "rb").read(), headers={"Content-Type": "application/json", **headers})
    return json.load(urllib.request.urlopen(request))
def oip_probability(answer):
    outputs = answer["outputs"]
    return next((o for o in outputs if o["name"] == "probability"), outputs[0])["data"]
ours = oip_probability(post(ours, f"{work}/oip.json", {"authorization": f"Bearer {token}"}))
peers = {"mlflow models serve": post(mlflow, f"{work}/mlflow.json", {})["predictions"],
         "mlserver": oip_probability(post(mlserver, f"{work}/oip.json", {}))}
for name, theirs in peers.items():
    theirs = theirs["probability"] if isinstance(theirs, dict) else theirs
    worst = max(abs(x - y) for x, y in zip(ours, theirs))
    print(f"{name}: the same answers as ours, largest difference {worst:.1e} over {len(ours)} recordings")
    assert len(ours) == len(theirs) and worst <= 1e-5, (ours, theirs)
PY
results=$work/wrk-results.txt
run_wrk() { # SERVER CONCURRENCY URL BODY [wrk options...]
  local server=$1 conc=$2 url=$3 body=$4 threads=1
  shift 4
  (( conc > 1 )) && threads=2
  WRK_BODY=$body wrk -t"$threads" -c"$conc" -d"${BENCH_SECONDS:-10}"s --timeout 10s --latency \
    -s "$root/scripts/lib/wrk-post.lua" "$@" "$url" | awk -v s="$server" -v c="$conc" '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000 }
      /Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
      /Non-2xx/ { bad = $NF } /Socket errors/ { sock = $0 }
      END { if (bad > 0) { print s ": " bad " non-2xx answers" > "/dev/stderr"; exit 1 }
            if (sock != "") { print s ":" sock > "/dev/stderr"; exit 1 }
            print s, c, rps, p50, p99 }' >>"$results"
}
for round in $(seq "${BENCH_ROUNDS:-3}"); do
  echo "== side by side, round $round"
  for conc in 1 32; do
    run_wrk seizure-ops "$conc" "$ours_url" "$work/oip.json" -H "authorization: Bearer $token"
    run_wrk mlflow-models-serve "$conc" "$mlflow_url" "$work/mlflow.json"
    run_wrk mlserver-mlflow "$conc" "$mlserver_url" "$work/oip.json"
  done
done
echo "== side by side: 23 recordings per request, medians of ${BENCH_ROUNDS:-3} rounds of ${BENCH_SECONDS:-10} s"
python3 "$root/scripts/lib/wrk-summary.py" "$results"
