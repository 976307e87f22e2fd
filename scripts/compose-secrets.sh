#!/usr/bin/env bash
# Creates the fleet's secrets as files for docker-compose (`secrets:`), once: a second run
# keeps every existing file. Each service mounts only the secrets it needs, at
# /run/secrets/NAME; nothing secret is an environment variable.
#   scripts/compose-secrets.sh [DIR]    (default ./secrets)
#
# The directory is 0700, so no other account on the host can read it. Compose (outside swarm)
# bind-mounts secret files with their host mode and owner, and the containers run as
# unprivileged users (uid 10001, postgres), so the files themselves are 0644.
#
# An operator may write any file before the first run (e.g. admin_password) to choose it.
set -euo pipefail
dir=${1:-"$(cd "$(dirname "$0")/.." && pwd)/secrets"}
mkdir -p "$dir"
chmod 700 "$dir"

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# put NAME VALUE: writes NAME unless it exists.
put() {
  [[ -s "$dir/$1" ]] && return 0
  printf '%s' "$2" > "$dir/$1.tmp"
  chmod 644 "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
  echo "compose-secrets: created $1"
}
value() { cat "$dir/$1"; }

put postgres_password "$(random)"        # the PostgreSQL superuser: initialisation only
put auth_db_password "$(random)"         # role auth: the users database only
put predictions_db_password "$(random)"  # role predictions: the audit log database only
put minio_root_password "$(random)"      # MinIO's root: the bucket job only
put minio_pipeline_secret "$(random)"    # MinIO user pipeline: read-write (jobs, MLflow)
put minio_inference_secret "$(random)"   # MinIO user inference: read-only
put admin_password "$(random)"           # the auth service's first admin
put grafana_admin_password "$(random)"

# MLflow (boto3) reads its S3 credentials from an AWS credentials file.
put mlflow_aws_credentials "$(printf '[default]\naws_access_key_id = pipeline\naws_secret_access_key = %s\n' "$(value minio_pipeline_secret)")"
echo "compose-secrets: $dir"
