"""The Keras reference for the training-speed comparison (scripts/bench-training.sh).

The seed project's network in Keras 3 on TensorFlow's CPU build: LSTM(56, sequences) ->
dropout 0.3 -> LSTM(56) -> dropout 0.3 -> dense 20 tanh -> dense 2, Adam (lr 1e-3,
epsilon 1e-7), cross-entropy, mini-batches of 32, shuffled every epoch. It trains on the
project's own prepared rows (`train_x.npy`, `train_y.npy` in the data directory) and prints
one JSON line per epoch: the seconds of the training loop and the samples per second.
TensorFlow uses every core by default (intra- and inter-op thread pools).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def __init__(self, rows):
        super().__init__()
        self.rows = rows

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        print(
            json.dumps(
                {
                    "epoch": epoch + 1,
                    "seconds": seconds,
                    "samples_per_second": self.rows / seconds,
                    "loss": float(logs.get("loss", float("nan"))),
                }
            ),
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="the prepared data directory")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--jit", choices=["auto", "on", "off"], default="auto", help="XLA compilation"
    )
    args = parser.parse_args()

    x = np.load(os.path.join(args.data, "train_x.npy")).astype(np.float32)
    y = np.load(os.path.join(args.data, "train_y.npy")).astype(np.int64)
    if x.ndim != 3 or len(x) != len(y):
        sys.exit(f"{args.data}: expected train_x [n, timesteps, features] and train_y [n]")
    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=x.shape[1:]),
            keras.layers.LSTM(56, return_sequences=True),
            keras.layers.Dropout(0.3),
            keras.layers.LSTM(56),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(20, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    print(
        json.dumps(
            {
                "keras": keras.__version__,
                "tensorflow": tf.__version__,
                "rows": int(len(x)),
                "shape": list(x.shape[1:]),
                "jit": args.jit,
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                "cores": os.cpu_count(),
            }
        ),
        flush=True,
    )
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[EpochTimer(len(x))],
    )


if __name__ == "__main__":
    main()
