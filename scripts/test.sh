#!/usr/bin/env bash
# The project's test command (the README names it; .ci/run calls it).
# Installs the real third-party tools the tests drive (idempotent), then runs every test.
# Extra arguments go to `cargo test`, e.g. `./scripts/test.sh -p preprocessing`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-tools.sh
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
export DVC_BIN=${DVC_BIN:-$tools/venv-dvc/bin/dvc}
export DVC_NO_ANALYTICS=1

cargo test --workspace "$@"
