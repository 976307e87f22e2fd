#!/usr/bin/env bash
# Starts or stops the MLflow tracking server the tests talk to (127.0.0.1, one worker,
# SQLite backend, proxied artifacts), from the venv install-test-tools.sh made.
#   mlflow-server.sh start DIR [PORT]   state in DIR; waits until /health answers (up to 180 s)
#   mlflow-server.sh stop DIR
set -euo pipefail
source "$(dirname "$0")/lib/background-server.sh"

tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
action=${1:?usage: mlflow-server.sh start|stop DIR [PORT]}
dir=${2:?usage: mlflow-server.sh start|stop DIR [PORT]}
port=${3:-5055}

answers() { [[ "$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null)" == "OK" ]]; }

case "$action" in
  start)
    server_start mlflow "$dir" 180 answers \
      "$tools/venv-mlflow/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
        --backend-store-uri "sqlite:///$dir/mlflow.db" \
        --serve-artifacts --artifacts-destination "$dir/artifacts"
    echo "mlflow-server: ready at http://127.0.0.1:$port"
    ;;
  stop) server_stop mlflow "$dir" ;;
  *) echo "usage: mlflow-server.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
