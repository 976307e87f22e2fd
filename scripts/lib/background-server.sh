# Sourced by the *-server.sh scripts: run a test server in the background with a pid file and a
# log in its state directory, wait until it answers, and stop it (with any children).

# server_start NAME DIR TIMEOUT PROBE COMMAND...
#   PROBE is a shell function that succeeds once the server answers.
server_start() {
  local name=$1 dir=$2 timeout=$3 probe=$4
  shift 4
  local pidfile="$dir/$name.pid" log="$dir/$name.log"
  mkdir -p "$dir"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name-server: already running (pid $(cat "$pidfile"))"
  else
    "$@" > "$log" 2>&1 &
    echo $! > "$pidfile"
  fi
  for _ in $(seq 1 "$timeout"); do
    if "$probe"; then
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$name-server: the server exited; its log:" >&2
      tail -n 40 "$log" >&2
      return 1
    fi
    sleep 1
  done
  echo "$name-server: no answer after $timeout s; its log:" >&2
  tail -n 40 "$log" >&2
  return 1
}

# server_stop NAME DIR
server_stop() {
  local pidfile="$2/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  # Some servers (MLflow's uvicorn workers) run children: end them too.
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
