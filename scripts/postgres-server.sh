#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL server (Debian's packages) for the tests, on
# 127.0.0.1, trust authentication, data in DIR. PostgreSQL refuses to run as root, so the
# server runs as the `postgres` user.
#   postgres-server.sh start DIR [PORT]    waits until it accepts connections
#   postgres-server.sh stop DIR
set -euo pipefail

action=${1:?usage: postgres-server.sh start|stop DIR [PORT]}
dir=${2:?usage: postgres-server.sh start|stop DIR [PORT]}
port=${3:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { if [[ $(id -u) == 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

case "$action" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) == 0 ]] && chown postgres "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_postgres "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" > "$dir/initdb.log"
    fi
    as_postgres "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
      -o \"-p $port -k '$dir' -h 127.0.0.1 -c fsync=off\" start" > /dev/null
    echo "postgres-server: ready at postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_postgres "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" > /dev/null || true
    fi
    ;;
  *) echo "usage: postgres-server.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
