#!/usr/bin/env bash
# The fleet end to end in Docker, as a user runs it: build the image, `docker-compose up`, wait
# for the pipeline jobs, log in, predict for a patient (through the HAProxy gateway), reload the
# model, check that Prometheus scrapes every API (up == 1) and that the prediction counters
# moved, take each dependency away in turn, then scale inference to 3 replicas: a promotion
# reaches every replica by its own pointer watch, and a replica crashing under a steady request
# stream costs no failed request through the gateway and comes back on the current release.
# Then `docker-compose down -v`. Any failed step stops the run and prints the containers'
# state and the failing one's logs.
#
#   scripts/compose-e2e.sh            # with docker-compose.ci.yml: local stand-in images
#   COMPOSE_E2E_OFFICIAL=1 scripts/compose-e2e.sh   # the official images (needs a registry)
set -euo pipefail
cd "$(dirname "$0")/.."

project=seizure-ops-e2e
files=(-f docker-compose.yml)
[[ "${COMPOSE_E2E_OFFICIAL:-0}" == 1 ]] || files+=(-f docker-compose.ci.yml)
env_file=$(mktemp -t seizure-ops-e2e-env.XXXXXX)
cat > "$env_file" <<'ENV'
ADMIN_USERNAME=admin
ALERT_WEBHOOK_URL=http://127.0.0.1:9/alerts
EPOCHS=2
MODEL_WATCH_SECONDS=10
ENV
# The secrets files compose mounts (created once; an existing ./secrets is kept).
./scripts/compose-secrets.sh > /dev/null
admin_password=$(cat secrets/admin_password)

compose() { docker-compose -p "$project" --env-file "$env_file" "${files[@]}" "$@"; }
step() { echo; echo "== compose-e2e: $*"; }
failing_service=""
failure=""
# A command that fails outside a condition (set -e) is named too, with its line (and, inside a
# helper such as compose(), the lines that called it).
set -E
trap 'failure=${failure:-"line $LINENO: $BASH_COMMAND (exit $?; called from lines ${BASH_LINENO[*]})"}' ERR
fail() {
  failure=$*
  echo "compose-e2e: FAILED: $*" >&2
  exit 1
}
stream_pid=""
on_exit() {
  local status=$?
  # A request stream still running (a failure during it) stops before the logs are read.
  [[ -z "$stream_pid" ]] || kill "$stream_pid" 2> /dev/null || true
  if [[ $status -ne 0 ]]; then
    echo "---- containers" >&2
    compose ps >&2 || true
    for service in ${failing_service:-keys preprocessing training evaluate patient-pull auth inference gateway}; do
      echo "---- logs: $service (last 80 lines)" >&2
      compose logs --no-color --tail=80 "$service" >&2 || true
    done
    # Last, so that a log's tail (CI keeps only the end) still says what failed.
    echo "compose-e2e: FAILED: ${failure:-exit status $status (see above)}" >&2
  fi
  compose down -v --remove-orphans > /dev/null 2>&1 || true
  rm -f "$env_file"
  exit $status
}
trap on_exit EXIT

step "docker"
if ! docker info > /dev/null 2>&1; then
  if ! command -v dockerd > /dev/null || ! command -v docker-compose > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose > /dev/null
  fi
  (dockerd > /tmp/seizure-ops-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info > /dev/null 2>&1 && break; sleep 1; done
  docker info > /dev/null 2>&1 || fail "dockerd did not start (see /tmp/seizure-ops-dockerd.log)"
fi
# BuildKit without the buildx plugin: Debian's docker 20.10 CLI has it built in.
docker_build=(docker build)
[[ -x /usr/bin/docker ]] && docker_build=(/usr/bin/docker build)

step "images"
if [[ "${COMPOSE_E2E_OFFICIAL:-0}" != 1 ]]; then
  ./scripts/docker-base.sh
  # Registries may sit behind a TLS-inspecting proxy whose CA only the host trusts.
  if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt docker/ci/host-ca.crt
  else
    : > docker/ci/host-ca.crt
  fi
  ci_image() { # NAME DOCKERFILE [BUILD ARGS...]
    local name=$1 dockerfile=$2
    shift 2
    DOCKER_BUILDKIT=1 "${docker_build[@]}" -q -t "seizure-ops-ci/$name:latest" "$@" \
      -f "docker/ci/$dockerfile" docker/ci > /dev/null
  }
  ci_image s3 python-tool.Dockerfile --build-arg "PACKAGES=moto[server]==5.2.5"
  ci_image mlflow python-tool.Dockerfile --build-arg "PACKAGES=mlflow==3.17.2 boto3"
  ci_image postgres postgres.Dockerfile
  ci_image prometheus prometheus.Dockerfile
  ci_image haproxy haproxy.Dockerfile
  # No Rust image can be pulled here: the binary is built on the host (same Debian release).
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/seizure-ops/target}
  cargo build --release --locked -p seizure-ops --features fleet
  mkdir -p docker-bin
  strip -o docker-bin/seizure-ops "$CARGO_TARGET_DIR/release/seizure-ops"
  DOCKER_BUILDKIT=1 "${docker_build[@]}" -q --build-arg BINARIES=prebuilt -t seizure-ops:latest . > /dev/null
else
  DOCKER_BUILDKIT=1 "${docker_build[@]}" -q -t seizure-ops:latest . > /dev/null
fi
size=$(docker image inspect -f '{{.Size}}' seizure-ops:latest)
echo "seizure-ops image: $((size / 1000000)) MB (target: 120 MB)"
((size <= 120000000)) || fail "the seizure-ops image is $((size / 1000000)) MB, over the 120 MB target"

step "docker-compose up"
compose down -v --remove-orphans > /dev/null 2>&1 || true
compose up -d --no-build

container_of() { compose ps -q "$1"; }
wait_job() {
  local service=$1 deadline=$((SECONDS + 900)) id state code
  while ((SECONDS < deadline)); do
    id=$(container_of "$service")
    if [[ -n "$id" ]]; then
      state=$(docker inspect -f '{{.State.Status}}' "$id")
      if [[ "$state" == exited ]]; then
        code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
        [[ "$code" == 0 ]] || { failing_service=$service; fail "job $service exited with $code"; }
        echo "job $service: done"
        return
      fi
    fi
    sleep 2
  done
  failing_service=$service
  fail "job $service did not finish within 15 minutes"
}
health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1"; }
wait_healthy() {
  local service=$1 deadline=$((SECONDS + 300)) id
  while ((SECONDS < deadline)); do
    id=$(container_of "$service")
    if [[ -n "$id" ]]; then
      [[ "$(health_of "$id")" == healthy ]] && { echo "$service: healthy"; return; }
      [[ "$(docker inspect -f '{{.State.Status}}' "$id")" == exited ]] && break
    fi
    sleep 2
  done
  failing_service=$service
  fail "$service did not become healthy"
}

step "pipeline jobs"
for job in keys preprocessing training evaluate patient-pull; do wait_job "$job"; done
wait_healthy auth
wait_healthy inference
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null http://127.0.0.1:8002/health/ready; do
  ((SECONDS < deadline)) || { failing_service=gateway; fail "the gateway does not reach a ready inference replica"; }
  sleep 1
done
echo "gateway: serving"

step "curl /login"
token_json=$(curl -fsS -X POST http://127.0.0.1:8001/login -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$admin_password\"}") || { failing_service=auth; fail "login"; }
token=$(sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<< "$token_json")
[[ -n "$token" && "$token" != "$token_json" ]] || fail "no access token in: $token_json"

step "curl /predict/<patient_id>"
patient=$(compose logs --no-color patient-pull | sed -nE 's/.*patient ids: ([0-9]+).*/\1/p' | head -n 1)
[[ -n "$patient" ]] || { failing_service=patient-pull; fail "no patient ids in the patient-pull log"; }
prediction=$(curl -fsS "http://127.0.0.1:8002/predict/$patient" -H "authorization: Bearer $token") \
  || { failing_service=inference; fail "predict $patient"; }
echo "$prediction" | cut -c1-200
grep -q "\"patient_id\":$patient" <<< "$prediction" || fail "unexpected prediction: $prediction"
grep -q '"model_version":"1"' <<< "$prediction" || fail "not served by version 1: $prediction"

step "POST /reload-model"
reload=$(curl -fsS -X POST http://127.0.0.1:8002/reload-model -H "authorization: Bearer $token") \
  || { failing_service=inference; fail "reload"; }
echo "$reload"
grep -q '"status":"reloaded"' <<< "$reload" || fail "unexpected reload answer: $reload"

step "least privilege"
# Only auth, the inference gateway (and Grafana) are published, and only on 127.0.0.1.
for service in minio mlflow postgres prometheus alertmanager inference; do
  [[ -z "$(docker port "$(container_of "$service")" 2>/dev/null)" ]] \
    || fail "$service publishes a port: $(docker port "$(container_of "$service")")"
done
[[ "$(docker port "$(container_of auth)" 8001/tcp)" == 127.0.0.1:* ]] \
  || fail "auth is published on $(docker port "$(container_of auth)" 8001/tcp), not 127.0.0.1"
[[ "$(docker port "$(container_of gateway)" 8002/tcp)" == 127.0.0.1:* ]] \
  || fail "the gateway is published on $(docker port "$(container_of gateway)" 8002/tcp), not 127.0.0.1"
# No secret in any container's environment.
for service in auth inference training mlflow postgres minio; do
  env_dump=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(container_of "$service")")
  for secret in secrets/*; do
    ! grep -qF "$(cat "$secret")" <<< "$env_dump" || fail "$service has $(basename "$secret") in its environment"
  done
done
# One role per database: the audit log's role cannot open the users database.
if compose exec -T -e PGPASSWORD="$(cat secrets/predictions_db_password)" postgres \
    psql -h 127.0.0.1 -U predictions -d auth -c 'SELECT count(*) FROM users' > /dev/null 2>&1; then
  fail "the predictions role can read the users table"
fi
compose exec -T -e PGPASSWORD="$(cat secrets/predictions_db_password)" postgres \
  psql -h 127.0.0.1 -U predictions -d predictions -c 'SELECT count(*) FROM prediction_log' > /dev/null \
  || fail "the predictions role cannot read its own audit log"
echo "published: auth and the inference gateway on 127.0.0.1 only; no secret in any environment; roles separated"

step "Prometheus"
query() {
  local encoded
  encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")
  compose exec -T prometheus wget -qO- "http://localhost:9090/api/v1/query?query=$encoded"
}
deadline=$((SECONDS + 120))
until query 'count(up{job=~"auth|inference"} == 1) == 2' | grep -q '"value"' \
  && query 'sum(predictions_total{job="inference"}) > 0' | grep -q '"value"'; do
  ((SECONDS < deadline)) || { failing_service=prometheus; fail "Prometheus never saw both APIs up and the prediction counters move"; }
  sleep 3
done
echo "up == 1 for auth and inference; predictions_total moved"

step "fault: PostgreSQL stopped under traffic"
audit_rows() {
  compose exec -T -e PGPASSWORD="$(cat secrets/predictions_db_password)" postgres \
    psql -h 127.0.0.1 -U predictions -d predictions -tAc 'SELECT count(*) FROM prediction_log' | tr -d '[:space:]'
}
predict() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:8002/predict/$patient" -H "authorization: Bearer $token"; }
# POST /reload-model through the gateway: the status code, or "curl exit N" when no answer
# came (said, not a silent stop of the script under `set -e`).
# Retried after a transport failure only (up to ~15 s): after `docker network disconnect`,
# connections to the published port are reset by Docker's proxy for a while, before they
# reach the gateway (it logs none of them). A reload is safe to send again.
reload_model() {
  local code attempt
  for attempt in 1 2 3 4 5 6; do
    code=$(curl -s -o /tmp/seizure-ops-e2e-reload.json -w '%{http_code}' -X POST http://127.0.0.1:8002/reload-model -H "authorization: Bearer $token") \
      && break
    code="curl exit $?"
    sleep 3
  done
  echo "$code"
}
before=$(audit_rows)
compose stop postgres > /dev/null 2>&1
answered=0
for _ in $(seq 1 20); do
  code=$(predict)
  [[ "$code" == 200 ]] || { failing_service=inference; fail "a prediction during the database outage answered $code"; }
  answered=$((answered + 1))
done
compose start postgres > /dev/null 2>&1
deadline=$((SECONDS + 120))
until [[ "$(audit_rows 2>/dev/null)" == "$((before + answered))" ]]; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "audit rows $(audit_rows) after the outage, expected $((before + answered))"; }
  sleep 2
done
echo "$answered predictions answered while PostgreSQL was down; audit rows $before -> $((before + answered)): none lost"

step "fault: the object store unreachable"
# The production pointer has not moved, so a reload needs nothing from the store: it must
# succeed from the local copy, and predictions must go on. (A reload that has to pull while
# the store is down answers 502 and keeps serving the loaded model.)
# Cut off from the network rather than stopped: the CI's S3 stand-in (moto) keeps its
# objects in memory only, and an outage must not also be a data loss.
store_network=$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}' "$(container_of minio)")
docker network disconnect "$store_network" "$(container_of minio)"
reload_code=$(reload_model)
[[ "$reload_code" == 200 ]] || { failing_service=inference; fail "reload of the unchanged release without the object store answered $reload_code: $(cat /tmp/seizure-ops-e2e-reload.json)"; }
[[ "$(predict)" == 200 ]] || { failing_service=inference; fail "predictions stopped without the object store"; }
# A reload that has to pull (the local copy is gone): 502 with a reason, the loaded model
# keeps serving.
compose exec -T inference rm -rf /srv/model/production
reload_code=$(reload_model)
[[ "$reload_code" == 502 ]] || { failing_service=inference; fail "a reload that must pull without the object store answered $reload_code: $(cat /tmp/seizure-ops-e2e-reload.json)"; }
grep -q '"model_unavailable"' /tmp/seizure-ops-e2e-reload.json || fail "the 502 has no reason: $(cat /tmp/seizure-ops-e2e-reload.json)"
[[ "$(predict)" == 200 ]] || { failing_service=inference; fail "the loaded model stopped serving after a failed reload"; }
# A pipeline stage that pushes stops with a message naming the object store.
if compose run --rm --no-deps preprocessing > /tmp/seizure-ops-e2e-stage.log 2>&1; then
  failing_service=preprocessing; fail "preprocessing succeeded without the object store"
fi
grep -q 'cannot push /srv/work/data (DVC remote s3://seizure-ops/dvcstore)' /tmp/seizure-ops-e2e-stage.log \
  || { failing_service=preprocessing; fail "preprocessing failed without naming the object store: $(tail -n 3 /tmp/seizure-ops-e2e-stage.log)"; }
echo "preprocessing without the object store: $(grep -o 'error: cannot push[^:]*' /tmp/seizure-ops-e2e-stage.log | head -n 1)"
docker network connect --alias minio "$store_network" "$(container_of minio)"
deadline=$((SECONDS + 60))
until [[ "$(curl -s -o /tmp/seizure-ops-e2e-reload.json -w '%{http_code}' -X POST http://127.0.0.1:8002/reload-model -H "authorization: Bearer $token")" == 200 ]]; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "reload after the object store came back: $(cat /tmp/seizure-ops-e2e-reload.json)"; }
  sleep 2
done
echo "without the object store: reload of the unchanged release 200, a reload that must pull 502, predictions went on; once reachable again the release was pulled again"

step "fault: MLflow stopped"
compose stop mlflow > /dev/null 2>&1
[[ "$(predict)" == 200 ]] || { failing_service=inference; fail "predictions stopped without MLflow"; }
if compose run --rm --no-deps -e EPOCHS=1 training > /tmp/seizure-ops-e2e-stage.log 2>&1; then
  failing_service=training; fail "training succeeded without MLflow"
fi
grep -q 'error: cannot start a run in the mlflow tracker' /tmp/seizure-ops-e2e-stage.log \
  || { failing_service=training; fail "training failed without naming MLflow: $(tail -n 3 /tmp/seizure-ops-e2e-stage.log)"; }
echo "training without MLflow: $(grep -o 'error: cannot start a run[^:]*' /tmp/seizure-ops-e2e-stage.log | head -n 1)"
compose start mlflow > /dev/null 2>&1
rm -f /tmp/seizure-ops-e2e-reload.json /tmp/seizure-ops-e2e-stage.log

step "three inference replicas behind the gateway"
compose up -d --no-deps --no-recreate --scale inference=3 inference
replicas() { compose ps -q inference; }
address_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
# The release a replica serves, asked of the replica itself (not through the gateway).
served_by() {
  curl -fsS --max-time 2 "http://$(address_of "$1"):8002/model-info" 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo none
}
healthy_replicas() {
  local id count=0
  for id in $(replicas); do [[ "$(health_of "$id")" == healthy ]] && count=$((count + 1)); done
  echo "$count"
}
deadline=$((SECONDS + 180))
until [[ "$(healthy_replicas)" == 3 ]]; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "3 inference replicas never became healthy ($(healthy_replicas))"; }
  sleep 2
done
versions_served() { local id; for id in $(replicas); do served_by "$id"; done | paste -sd ' '; }
echo "3 replicas healthy, serving: $(versions_served)"
# Which replica answered, through the gateway (`processed_by` is inference@<container id>).
answered_by() {
  curl -fsS "http://127.0.0.1:8002/predict/$patient" -H "authorization: Bearer $token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["processed_by"].split("@")[1])'
}
# Until the gateway sends a request to container $1 (at most 60 tries). A probe that gets no
# answer (an error status) counts as a miss, never as a match.
reaches() {
  local try who
  for try in $(seq 1 60); do
    who=$(answered_by) || who=""
    [[ -n "$who" && "$1" == "$who"* ]] && return 0
    sleep 0.2
  done
  return 1
}
for id in $(replicas); do
  reaches "$id" || { failing_service=gateway; fail "the gateway never sent a request to replica $id"; }
done
echo "the gateway sends requests to each of the 3 replicas"
# Kills a replica's process the way a crash would (SIGKILL, no shutdown), from the host's
# PID namespace as the replica's own user (no root needed).
crash() {
  docker run --rm --pid=host --network none --entrypoint /bin/sh seizure-ops:latest \
    -c "kill -KILL $(docker inspect -f '{{.State.Pid}}' "$1")"
}

stop_file=$(mktemp -u -t seizure-ops-e2e-stream.XXXXXX)
stream_out=$(mktemp -t seizure-ops-e2e-stream-out.XXXXXX)
# 3 clients: with this script's own probes (one request at a time) one user never has more
# than 4 predictions in progress, inference's default per-user cap (MAX_PREDICTIONS_PER_USER):
# a 5th would be answered 429, the service's own word, which the gateway rightly passes on.
# `connection: close`: the gateway closes each connection first, so the closed connections'
# TIME_WAIT stays on its side, not on the host's ports towards it (docker-proxy's, about 28k,
# which a few hundred new connections a second for a minute would come near).
python3 scripts/lib/request-stream.py "http://127.0.0.1:8002/predict/$patient" \
  --header "authorization: Bearer $token" --header "connection: close" --workers 3 --stop-file "$stop_file" --out "$stream_out" &
stream_pid=$!
stream_began=$SECONDS
gateway_log_since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "a steady request stream through the gateway (3 clients) while replicas crash and the model is promoted"

# 1. A replica crashes under the stream: Docker restarts it (restart: unless-stopped) and the
# gateway sends it requests again.
victim=$(replicas | sed -n 2p)
reaches "$victim" || fail "replica $victim took no request before the crash"
restarts_before=$(docker inspect -f '{{.RestartCount}}' "$victim")
crash "$victim"
killed_at=$SECONDS
deadline=$((SECONDS + 120))
until [[ "$(docker inspect -f '{{.RestartCount}}' "$victim")" -gt "$restarts_before" && "$(health_of "$victim")" == healthy ]]; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "the crashed replica did not come back healthy"; }
  sleep 0.5
done
reaches "$victim" || { failing_service=gateway; fail "the gateway sends no request to the restarted replica"; }
echo "crash 1: replica restarted by Docker, healthy and taking requests again $((SECONDS - killed_at)) s after the kill"

# 2. A replica is down while a new model is promoted (forced: this proves the roll-out, not
# that the candidate is better; the pointer moves once, nobody calls /reload-model): the
# others follow the pointer by their own watch, and the down one, started again, must fetch
# the new release to be ready.
docker update --restart=no "$victim" > /dev/null
crash "$victim"
wait_healthy mlflow > /dev/null
before_version=$(served_by "$(replicas | head -n 1)")
compose run --rm --no-deps -e TRAIN_SEED=7 training > /tmp/seizure-ops-e2e-stage.log 2>&1 \
  || { failing_service=training; fail "retraining: $(tail -n 5 /tmp/seizure-ops-e2e-stage.log)"; }
compose run --rm --no-deps evaluate evaluate run --candidate /srv/work/models --data /srv/work/data \
  --reports /srv/work/reports --production /srv/work/production \
  --audit-log /srv/work/audit/promotions.jsonl \
  --force --force-reason "compose e2e: a promotion for every replica to follow" > /tmp/seizure-ops-e2e-stage.log 2>&1 \
  || { failing_service=evaluate; fail "the promotion: $(tail -n 5 /tmp/seizure-ops-e2e-stage.log)"; }
# From the moment the pointer moved (its mtime), not from evaluate's exit.
live_replicas() { local id; for id in $(replicas); do [[ "$id" == "$victim" ]] || echo "$id"; done; }
moved_at=$(docker exec "$(live_replicas | head -n 1)" stat -c %Y /srv/work/production.dvc)
watch_seconds=$(sed -n 's/^MODEL_WATCH_SECONDS=//p' "$env_file")
followed() {
  local id version
  for id in $(live_replicas); do
    version=$(served_by "$id")
    [[ "$version" != none && "$version" != "$before_version" ]] || return 1
  done
}
deadline=$((SECONDS + watch_seconds + 30))
until followed; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "the running replicas serve $(versions_served) after the promotion from $before_version"; }
  sleep 0.5
done
converged=$(($(date +%s) - moved_at))
current_version=$(served_by "$(live_replicas | head -n 1)")
echo "promotion $before_version -> $current_version: both running replicas serve it ${converged} s after the pointer moved (watch interval ${watch_seconds} s)"
# How long the roll-out took is a figure, not a test: the bound is the deadline above (one
# watch interval, then a fetch and a load, with room for a loaded machine). Measured here
# between 4 and 11 s, so a margin of 5 s over the interval is too thin for a slower machine.
docker update --restart=unless-stopped "$victim" > /dev/null
# UTC, explicit, and a second early (the replica was stopped long before: nothing of an
# earlier life of it falls in that second).
victim_log_since=$(date -u -d '-1 second' +%Y-%m-%dT%H:%M:%SZ)
docker start "$victim" > /dev/null
started_at=$SECONDS
deadline=$((SECONDS + 120))
until [[ "$(health_of "$victim")" == healthy && "$(served_by "$victim")" == "$current_version" ]]; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "the replica started after the promotion is not ready on $current_version: $(served_by "$victim")"; }
  sleep 0.5
done
# Docker's log driver may hand over the line a moment after the replica answers.
victim_pulled() { docker logs --since "$victim_log_since" "$victim" 2>&1 | grep -q '"message":"pulled"'; }
deadline=$((SECONDS + 10))
until victim_pulled; do
  ((SECONDS < deadline)) || { failing_service=inference; fail "the replica started after the promotion did not pull the new release"; }
  sleep 0.5
done
reaches "$victim" || { failing_service=gateway; fail "the gateway sends no request to the started replica"; }
echo "crash 2: the replica down during the promotion pulled version $current_version and was ready $((SECONDS - started_at)) s after its start; all serve: $(versions_served)"

sleep 3
touch "$stop_file"
wait "$stream_pid"
stream_pid=""
rm -f "$stop_file"
summary=$(cat "$stream_out")
rm -f "$stream_out"
echo "request stream over $((SECONDS - stream_began)) s: $summary"
retried=$(docker logs --since "$gateway_log_since" "$(container_of gateway)" 2>&1 \
  | grep -cE ' [0-9]+/[0-9]+/[0-9]+/[0-9]+/\+?[1-9][0-9]* [0-9]+/[0-9]+ "' || true)
echo "requests the gateway sent again to another replica during the crashes: $retried"
((retried > 0)) || { failing_service=gateway; fail "no request was retried: the crashes did not hit the gateway's traffic"; }
stream_ok=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(int(s["requests"] > 0 and s["failed"] == 0 and len(s["answered_by"]) >= 3))' "$summary") \
  || fail "the request stream's summary is not JSON: $summary"
if [[ "$stream_ok" != 1 ]]; then
  echo "---- the gateway's answers other than 200 during the stream (first 40)" >&2
  docker logs --since "$gateway_log_since" "$(container_of gateway)" 2>&1 \
    | grep -E ' -?[0-9]+/-?[0-9]+/-?[0-9]+/-?[0-9]+/\+?[0-9]+ [013-9][0-9]{2} ' | head -n 40 >&2 || true
  failing_service=gateway
  fail "requests failed through the gateway (or fewer than 3 replicas answered): $summary"
fi

step "docker-compose down -v"
echo "compose-e2e: PASSED"
