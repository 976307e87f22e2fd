"""Scores event lists with the `timescoring` package (the SzCORE scorer).

stdin: JSON list of {"duration_s", "reference": [[start, end], ...], "hypothesis": [...]}.
stdout: JSON list of {"ref_true", "tp", "fp", "sensitivity", "precision", "f1", "fp_per_day"}
(NaN as null), in the same order.
"""

import json
import math
import sys

from timescoring import scoring
from timescoring.annotations import Annotation

FS = 10


def clean(value):
    value = float(value)
    return None if math.isnan(value) else value


results = []
for case in json.load(sys.stdin):
    samples = round(case["duration_s"] * FS)
    ref = Annotation([tuple(e) for e in case["reference"]], FS, samples)
    hyp = Annotation([tuple(e) for e in case["hypothesis"]], FS, samples)
    s = scoring.EventScoring(ref, hyp)
    results.append(
        {
            "ref_true": int(s.refTrue),
            "tp": int(s.tp),
            "fp": int(s.fp),
            "sensitivity": clean(s.sensitivity),
            "precision": clean(s.precision),
            "f1": clean(s.f1),
            "fp_per_day": clean(s.fpRate),
        }
    )
json.dump(results, sys.stdout)
