#!/usr/bin/env bash
# Starts or stops the S3-compatible server the tests talk to (moto's server on 127.0.0.1,
# state in memory), from the venv install-test-tools.sh made, and creates the test bucket.
#   s3-server.sh start DIR [PORT] [BUCKET]   waits until the server answers (up to 60 s)
#   s3-server.sh stop DIR
set -euo pipefail
source "$(dirname "$0")/lib/background-server.sh"

tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
action=${1:?usage: s3-server.sh start|stop DIR [PORT] [BUCKET]}
dir=${2:?usage: s3-server.sh start|stop DIR [PORT] [BUCKET]}
port=${3:-5057}
bucket=${4:-seizure-ops-test}

answers() { curl -fsS "http://127.0.0.1:$port/" > /dev/null 2>&1; }

case "$action" in
  start)
    server_start s3 "$dir" 60 answers "$tools/venv-moto/bin/moto_server" -H 127.0.0.1 -p "$port"
    # moto accepts an unsigned bucket creation; a second one is harmless.
    curl -fsS -X PUT "http://127.0.0.1:$port/$bucket" > /dev/null
    echo "s3-server: ready at http://127.0.0.1:$port (bucket $bucket)"
    ;;
  stop) server_stop s3 "$dir" ;;
  *) echo "usage: s3-server.sh start|stop DIR [PORT] [BUCKET]" >&2; exit 2 ;;
esac
