#!/usr/bin/env bash
# Starts or stops the MLflow tracking server the tests talk to (127.0.0.1, one worker,
# SQLite backend, proxied artifacts), from the venv install-test-tools.sh made.
#   mlflow-server.sh start DIR [PORT]   state in DIR; waits until /health answers (up to 180 s)
#   mlflow-server.sh stop DIR
set -euo pipefail

tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
action=${1:?usage: mlflow-server.sh start|stop DIR [PORT]}
dir=${2:?usage: mlflow-server.sh start|stop DIR [PORT]}
port=${3:-5055}
pidfile="$dir/mlflow.pid"

case "$action" in
  start)
    mkdir -p "$dir"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "mlflow-server: already running (pid $(cat "$pidfile"))"
    else
      "$tools/venv-mlflow/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
        --backend-store-uri "sqlite:///$dir/mlflow.db" \
        --serve-artifacts --artifacts-destination "$dir/artifacts" \
        > "$dir/mlflow.log" 2>&1 &
      echo $! > "$pidfile"
    fi
    for _ in $(seq 1 180); do
      if [[ "$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null)" == "OK" ]]; then
        echo "mlflow-server: ready at http://127.0.0.1:$port"
        exit 0
      fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "mlflow-server: the server exited; its log:" >&2
        tail -n 40 "$dir/mlflow.log" >&2
        exit 1
      fi
      sleep 1
    done
    echo "mlflow-server: no answer on /health after 180 s; its log:" >&2
    tail -n 40 "$dir/mlflow.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      pid=$(cat "$pidfile")
      # The server's uvicorn workers are its children: end the whole group.
      pkill -TERM -P "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: mlflow-server.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
