#!/usr/bin/env bash
# Starts or stops the S3-compatible server the tests talk to (moto's server on 127.0.0.1,
# state in memory), from the venv install-test-tools.sh made, and creates the test bucket.
#   s3-server.sh start DIR [PORT] [BUCKET]   waits until the server answers (up to 60 s)
#   s3-server.sh stop DIR
set -euo pipefail

tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
action=${1:?usage: s3-server.sh start|stop DIR [PORT] [BUCKET]}
dir=${2:?usage: s3-server.sh start|stop DIR [PORT] [BUCKET]}
port=${3:-5057}
bucket=${4:-seizure-ops-test}
pidfile="$dir/s3.pid"

case "$action" in
  start)
    mkdir -p "$dir"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "s3-server: already running (pid $(cat "$pidfile"))"
    else
      "$tools/venv-moto/bin/moto_server" -H 127.0.0.1 -p "$port" > "$dir/s3.log" 2>&1 &
      echo $! > "$pidfile"
    fi
    for _ in $(seq 1 60); do
      if curl -fsS "http://127.0.0.1:$port/" > /dev/null 2>&1; then
        # moto accepts an unsigned bucket creation; a second one is harmless.
        curl -fsS -X PUT "http://127.0.0.1:$port/$bucket" > /dev/null
        echo "s3-server: ready at http://127.0.0.1:$port (bucket $bucket)"
        exit 0
      fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "s3-server: the server exited; its log:" >&2
        tail -n 40 "$dir/s3.log" >&2
        exit 1
      fi
      sleep 1
    done
    echo "s3-server: no answer after 60 s; its log:" >&2
    tail -n 40 "$dir/s3.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      pid=$(cat "$pidfile")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: s3-server.sh start|stop DIR [PORT] [BUCKET]" >&2; exit 2 ;;
esac
