#!/bin/sh
# First start only (docker-entrypoint-initdb.d): one role per database, each the owner of its
# own database and nothing else, so the inference service cannot read the users table and
# the auth service cannot read the audit log. Passwords come from the secrets files.
set -eu
auth_password=$(cat /run/secrets/auth_db_password)
predictions_password=$(cat /run/secrets/predictions_db_password)
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
  -v auth_password="$auth_password" -v predictions_password="$predictions_password" <<'SQL'
CREATE ROLE auth LOGIN PASSWORD :'auth_password';
CREATE ROLE predictions LOGIN PASSWORD :'predictions_password';
ALTER DATABASE auth OWNER TO auth;
CREATE DATABASE predictions OWNER predictions;
REVOKE ALL ON DATABASE auth FROM PUBLIC;
REVOKE ALL ON DATABASE predictions FROM PUBLIC;
GRANT CONNECT ON DATABASE auth TO auth;
GRANT CONNECT ON DATABASE predictions TO predictions;
SQL
