"""Reads an EDF/EDF+ file's annotations and start with pyedflib (the EDFlib reference).

stdin: {"path"}; stdout: {"start": ISO date-time, "annotations": [[onset, duration, text]]}
"""
import json
import sys

import pyedflib

spec = json.load(sys.stdin)
reader = pyedflib.EdfReader(spec["path"])
onsets, durations, texts = reader.readAnnotations()
json.dump({
    "start": reader.getStartdatetime().isoformat(),
    "annotations": [[float(o), float(d), str(t)] for o, d, t in zip(onsets, durations, texts)],
}, sys.stdout)
reader.close()
