# Sourced by the figure scripts that run the release binary on the real data set:
#   source "$(dirname "$0")/lib/real-data-run.sh" NAME [CSV]
# Checks the CSV (default ../shared/data/epileptic_seizure_recognition.csv; a missing file
# stops with NAME in the message), builds the release binary, and leaves the caller in a
# fresh temporary directory (removed on exit) with: $root (the clone), $csv (absolute),
# $bin (the binary), $work (the directory); RUST_LOG=warn and SEIZURE_OPS_HOME=$work.
set -euo pipefail
real_data_run_name=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
csv=${2:-$root/../shared/data/epileptic_seizure_recognition.csv}
[[ -f "$csv" ]] || { echo "$real_data_run_name: no real data at $csv" >&2; exit 1; }
csv=$(cd "$(dirname "$csv")" && pwd)/$(basename "$csv")
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/seizure-ops/target}
cargo build --release -q --locked -p seizure-ops
bin=$CARGO_TARGET_DIR/release/seizure-ops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export RUST_LOG=warn SEIZURE_OPS_HOME="$work"
