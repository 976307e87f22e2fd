#!/usr/bin/env bash
# The model issue's side-by-side, on the real data, in one run with one release binary:
# every training recipe below is trained (split seed 42, training seed 42) and evaluated on the
# same test split, and the evaluation's robustness table is printed for each: the aligned test
# chunks, test windows at every quarter chunk between chunk boundaries, and the aligned chunks
# under baseline shifts, drift, gains 0.7 / 1.3, 50 Hz hum and white noise.
#
#   original     global mean, aligned windows            (the model before this issue)
#   centred      per-window centring, aligned windows
#   random       per-window centring, random windows
#   default      per-window centring, random windows, gain augmentation 0.2  (params.yaml)
#   conv         the default recipe with the convolutional front end
#
#   scripts/robustness-figures.sh [CSV]   (default: ../shared/data/epileptic_seizure_recognition.csv)
#
# About 15 minutes on 2 cores (5 trainings). Everything runs in a temporary directory.
source "$(dirname "$0")/lib/real-data-run.sh" robustness-figures "${1:-}"

"$bin" preprocessing run --no-dvc --input "$csv" --out data-global --centring global > /dev/null
"$bin" preprocessing run --no-dvc --input "$csv" --out data --centring per-window > /dev/null

recipe() {
    local name=$1 data=$2
    shift 2
    echo
    echo "== $name: $*"
    "$bin" training --no-dvc --data "$data" --out "models-$name" --seed 42 \
        --tracking-dir "tracking-$name" "$@" \
        | grep -E '^(trained|decision threshold|speed)'
    # Each recipe is judged alone: its own production directory, tracker and audit log.
    "$bin" evaluate run --no-dvc --candidate "models-$name" --data "$data" \
        --reports "reports-$name" --production "production-$name" \
        --audit-log "audit-$name.jsonl" --tracking-dir "tracking-$name" \
        | sed -n '/^candidate/,/^floor/p' | grep -v '^floor'
}

recipe original data-global --windows aligned --augment-gain 0
recipe centred data --windows aligned --augment-gain 0
recipe random data --windows random --augment-gain 0
recipe default data --windows random --augment-gain 0.2
recipe conv data --windows random --augment-gain 0.2 --front-end conv
