#!/usr/bin/env bash
# The clinical-input figures of docs/bedside.md, in one run: the 100 held-out recordings of
# the real data set streamed back to back, scored by `seizure-ops monitor` as a text file at
# 173.61 Hz and as an EDF+ file at 256 Hz, then at other gains and with mains hum; prints
# windows flagged out of distribution and the alarms of each.
#
#   scripts/edf-figures.sh [CSV]       trains the default pipeline on CSV first (~2 min)
#   EDF_FIGURES_HOME=DIR scripts/edf-figures.sh   uses DIR's data/ and production/ instead
source "$(dirname "$0")/lib/real-data-run.sh" edf-figures "${1:-}"
source "$root/scripts/lib/venv.sh"
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
install_venv "$tools" venv-scoring "$root/scripts/requirements-scoring.txt" > /dev/null
python=$tools/venv-scoring/bin/python

home=${EDF_FIGURES_HOME:-}
if [[ -z "$home" ]]; then
    home=$work/home
    "$bin" pipeline --home "$home" --raw-csv "$csv" > /dev/null
fi
"$python" "$root/scripts/bench/edf_recordings.py" "$home/data" "$work"

score() {
    local name=$1 input=$2
    shift 2
    "$bin" monitor --home "$home" --input "$input" --events "$work/$name.json" \
        --plot "$work/$name.svg" "$@" > /dev/null
    "$python" - "$work/$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
o = d["out_of_distribution"]
detected = " ".join(f"{a['detected_s']:.1f}" for a in d["alarms"])
print(f"{sys.argv[2]:<22} {o['windows_flagged']:>5} of {o['windows']} flagged "
      f"({100 * o['fraction']:.2f}%, recording flagged: {o['flagged']}), "
      f"{len(d['alarms'])} alarms at {detected}")
s = d.get("scored_against_annotations")
if s:
    print(f"{'':<22} against the file's seizure annotations: {s['true_positives']} of "
          f"{s['reference_events']} detected, {s['false_positives']} false alarms, median "
          f"latency {s['latency_median_s']} s")
PY
}

score "173.61 Hz text" "$work/held-out.txt"
score "256 Hz EDF+" "$work/held-out.edf" --channel "EEG held-out"
for gain in 0.01 0.05 0.1 0.5 2 3; do
    awk -v g="$gain" '{ print $1 * g }' "$work/held-out.txt" > "$work/gain.txt"
    score "gain $gain" "$work/gain.txt"
done
awk '{ print $1 + 300 * sin(2 * 3.14159265358979 * 50 * NR / 173.61) }' "$work/held-out.txt" \
    > "$work/hum.txt"
score "300 uV of 50 Hz hum" "$work/hum.txt"
