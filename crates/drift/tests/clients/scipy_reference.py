"""The drift features and statistics as scipy computes them.

stdin: JSON {"fs", "bands": [[low, high], ...] (high null: to Nyquist), "floor",
             "windows": [[sample, ...], ...], "pairs": [{"a": [...], "b": [...]}, ...]}
stdout: JSON {"features": [[...10 per window]], "ks": [...], "wasserstein": [...],
              "normalised_wasserstein": [...], "ks_pvalue": [...]}
Features: scipy.signal.periodogram (Hann window, constant detrend, density), band power =
sum of PSD over f in [low, high) times the bin width; then log line length, log variance,
log range (natural log, floored) and the mean.
"""

import json
import sys

import numpy as np
from scipy import signal, stats

case = json.load(sys.stdin)
fs = case["fs"]
floor = case["floor"]


def log(v):
    return float(np.log(max(v, floor)))


features = []
for window in case["windows"]:
    x = np.asarray(window, dtype=np.float64)
    f, psd = signal.periodogram(x, fs, window="hann", detrend="constant", scaling="density")
    df = f[1] - f[0]
    row = []
    for low, high in case["bands"]:
        mask = f >= low
        if high is not None:
            mask &= f < high
        row.append(log(psd[mask].sum() * df))
    row.append(log(np.abs(np.diff(x)).sum()))
    row.append(log(x.var()))
    row.append(log(x.max() - x.min()))
    row.append(float(x.mean()))
    features.append(row)

ks, ks_p, w, nw = [], [], [], []
for pair in case["pairs"]:
    a, b = np.asarray(pair["a"]), np.asarray(pair["b"])
    result = stats.ks_2samp(a, b)
    ks.append(float(result.statistic))
    ks_p.append(float(result.pvalue))
    distance = stats.wasserstein_distance(a, b)
    w.append(float(distance))
    nw.append(float(distance / np.std(a)))

json.dump(
    {"features": features, "ks": ks, "ks_pvalue": ks_p, "wasserstein": w, "normalised_wasserstein": nw},
    sys.stdout,
)
