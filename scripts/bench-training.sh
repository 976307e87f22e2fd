#!/usr/bin/env bash
# Training speed side by side, in one run on this machine: `seizure-ops training` against the
# Keras 3 / TensorFlow-CPU reference (scripts/bench/keras_train.py, in its own venv installed
# here from scripts/requirements-keras.txt), on the same rows (the project's own
# train_x.npy from the real data set), the same network (two LSTM(56), dense 20, dense 2,
# dropout 0.3), layout 22 x 8, batch 32, Adam 1e-3. Every run is pinned to the same cores
# (taskset -c $CORES, default all of them); TensorFlow sizes its thread pools to them.
#
# Each of ROUNDS rounds (default 3) runs, back to back, alternating:
#   keras         Keras with its defaults (XLA "auto")
#   ours-aligned  seizure-ops training on the same aligned rows, no augmentation (the default
#                 native engine, two gradient shards, one thread each)
#   ours-burn     the same on the burn engine (burn's autodiff, the reference)
#   ours-default  the default recipe (random windows, gain augmentation 0.2, native engine)
# A run's figure is the median samples/s of its epochs after the first (warm-up); a row's is
# the median over the rounds. Printed: each row, the ratios ours / Keras, the achieved
# GFLOP/s (5.21 MFLOP per training sample: forward 1.74, backward about twice that) and the
# machine's float32 matrix-multiply peak on the same cores (numpy's BLAS, 2048 x 2048).
#
#   scripts/bench-training.sh [CSV]        ROUNDS=3 EPOCHS=4 CORES=0-1
source "$(dirname "$0")/lib/real-data-run.sh" bench-training "${1:-}"
# shellcheck source=lib/venv.sh
source "$root/scripts/lib/venv.sh"
tools=${SEIZURE_OPS_TOOLS:-$HOME/.cache/seizure-ops}
install_venv "$tools" venv-keras "$root/scripts/requirements-keras.txt" >&2
python=$tools/venv-keras/bin/python
rounds=${ROUNDS:-3}
epochs=${EPOCHS:-4}
# Default: the cores this process may run on (a cpuset need not start at 0).
cores=${CORES:-$(taskset -pc $$ | sed 's/.*: //')}
pin=(taskset -c "$cores")

# Undersampled (2,760 balanced rows): the rows Keras reads from train_x.npy, unweighted.
"$bin" preprocessing run --no-dvc --input "$csv" --out data --balance undersample > /dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); runs pinned to cores $cores"
echo "SIMD: $(grep -m1 -o -w -E 'avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"

# Median samples/s of epochs 2.. from JSON lines (ours: tracing's "fields"; Keras: flat).
median_speed() {
  "$python" - "$1" <<'PY'
import json, statistics, sys
speeds = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    record = json.loads(line)
    fields = record.get("fields", record)
    if "samples_per_second" in fields and int(fields.get("epoch", 0)) >= 2:
        speeds.append(float(fields["samples_per_second"]))
if not speeds:
    sys.exit(f"{sys.argv[1]}: no epoch after the first")
print(statistics.median(speeds))
PY
}

ours() {
  local name=$1 round=$2
  shift 2
  RUST_LOG=info "${pin[@]}" "$bin" training --no-dvc --log-format json --data data \
    --out "models-$name-$round" --tracking-dir "tracking-$name" --epochs "$epochs" \
    --patience "$epochs" --oof-folds 0 "$@" > "$name-$round.jsonl" 2>&1 \
    || { tail -n 20 "$name-$round.jsonl" >&2; exit 1; }
}

declare -A results
names=(keras ours-aligned ours-burn ours-default)
for round in $(seq 1 "$rounds"); do
  "${pin[@]}" "$python" "$root/scripts/bench/keras_train.py" --data data --epochs "$epochs" \
    > "keras-$round.jsonl" 2> "keras-$round.err" || { tail -n 20 "keras-$round.err" >&2; exit 1; }
  ours ours-aligned "$round" --windows aligned --augment-gain 0
  ours ours-burn "$round" --windows aligned --augment-gain 0 --engine burn
  ours ours-default "$round"
  line="round $round:"
  for name in "${names[@]}"; do
    speed=$(median_speed "$name-$round.jsonl")
    results[$name]+="$speed "
    line+=" $name $(printf '%.0f' "$speed")"
  done
  echo "$line samples/s"
done
echo "keras: $(head -n 1 keras-1.jsonl)"

peak=$("${pin[@]}" "$python" - <<'PY'
import time, numpy as np
n = 2048
a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(2).standard_normal((n, n), dtype=np.float32)
a @ b
best = 0.0
for _ in range(5):
    started = time.perf_counter()
    a @ b
    best = max(best, 2 * n**3 / (time.perf_counter() - started) / 1e9)
print(f"{best:.1f}")
PY
)

"$python" - "$rounds" "$peak" "${results[keras]}" "${results[ours-aligned]}" \
  "${results[ours-burn]}" "${results[ours-default]}" <<'PY'
import statistics, sys
rounds, peak = sys.argv[1], float(sys.argv[2])
names = ["keras", "ours-aligned", "ours-burn", "ours-default"]
medians = {n: statistics.median(map(float, v.split())) for n, v in zip(names, sys.argv[3:])}
# FLOP per training sample: LSTM(8 -> 56) and LSTM(56 -> 56) over 22 steps, dense 56 -> 20 -> 2;
# backward about twice the forward.
forward = 2 * 22 * 4 * 56 * (8 + 56) + 2 * 22 * 4 * 56 * (56 + 56) + 2 * (56 * 20 + 20 * 2)
per_sample = 3 * forward
for name in names:
    gflops = medians[name] * per_sample / 1e9
    print(f"{name:>13}: {medians[name]:8.0f} samples/s (median of {rounds} rounds), "
          f"{gflops:5.2f} GFLOP/s = {100 * gflops / peak:4.1f}% of the sgemm peak")
print(f"sgemm peak on these cores: {peak:.1f} GFLOP/s (numpy float32 2048 x 2048)")
print(f"ratio ours / Keras: aligned rows {medians['ours-aligned'] / medians['keras']:.2f}x "
      f"(burn engine {medians['ours-burn'] / medians['keras']:.2f}x), "
      f"default recipe {medians['ours-default'] / medians['keras']:.2f}x")
PY
