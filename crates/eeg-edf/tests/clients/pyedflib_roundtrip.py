"""Writes an EDF/EDF+ file with pyedflib (the EDFlib-based reference) and reads it back.

stdin: {"path", "edf_plus": bool, "signals": [{"label", "dimension", "rate",
"physical_min", "physical_max", "samples": [...], optional "resample_from": the samples'
rate, resampled to "rate" by scipy's FFT resampler first}], "annotations": [[onset, duration, text]]}
stdout: {"signals": [[physical values as pyedflib reads them]], "annotations": [[...]]}
"""
import json
import sys

import numpy as np
import pyedflib
import scipy.signal

spec = json.load(sys.stdin)
kind = pyedflib.FILETYPE_EDFPLUS if spec["edf_plus"] else pyedflib.FILETYPE_EDF
writer = pyedflib.EdfWriter(spec["path"], len(spec["signals"]), file_type=kind)
writer.setSignalHeaders([
    {
        "label": s["label"],
        "dimension": s["dimension"],
        "sample_frequency": s["rate"],
        "physical_min": s["physical_min"],
        "physical_max": s["physical_max"],
        "digital_min": -32768,
        "digital_max": 32767,
        "transducer": "",
        "prefilter": "",
    }
    for s in spec["signals"]
])
def samples(s):
    x = np.asarray(s["samples"], dtype=np.float64)
    if "resample_from" in s:
        x = scipy.signal.resample(x, int(round(len(x) * s["rate"] / s["resample_from"])))
        x = x[: len(x) // s["rate"] * s["rate"]]
    return x


writer.writeSamples([samples(s) for s in spec["signals"]])
for onset, duration, text in spec["annotations"]:
    writer.writeAnnotation(onset, duration, text)
writer.close()

reader = pyedflib.EdfReader(spec["path"])
onsets, durations, texts = reader.readAnnotations()
json.dump({
    "signals": [reader.readSignal(i).tolist() for i in range(reader.signals_in_file)],
    "annotations": [[float(o), float(d), str(t)] for o, d, t in zip(onsets, durations, texts)],
}, sys.stdout)
reader.close()
