#!/usr/bin/env bash
# The quality figures of the README and docs/evaluation.md, on the real data, with the release
# binary and the default settings:
#  1. the 5-fold cross-validation table (`seizure-ops cv --folds 5`: mean +/- sd per figure);
#  2. the pipeline's model (split seed 42, training seed 42) evaluated and promoted, with its
#     95% intervals and calibration;
#  3. the same recipe retrained with training seed 43, evaluated against it: the promotion
#     decision as the user sees it.
#
#   scripts/quality-figures.sh [CSV]   (default: ../shared/data/epileptic_seizure_recognition.csv)
#
# About 7 minutes on 2 cores (7 trainings). Everything runs in a temporary directory.
source "$(dirname "$0")/lib/real-data-run.sh" quality-figures "${1:-}"

echo "== 1. five-fold cross-validation"
"$bin" cv --folds 5 --raw-csv "$csv" | sed -n '/cross-validation (mean/,$p'

echo
echo "== 2. the pipeline's model (training seed 42), first promotion"
"$bin" preprocessing run --no-dvc --input "$csv" --out data > /dev/null
"$bin" training --no-dvc --data data --out models --seed 42 | grep -E '^(trained|decision threshold)'
"$bin" evaluate run --no-dvc

echo
echo "== 3. the same recipe, training seed 43, against it"
"$bin" training --no-dvc --data data --out models --seed 43 | grep -E '^(trained|decision threshold)'
"$bin" evaluate run --no-dvc
