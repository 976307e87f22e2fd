"""Writes the held-out recordings of a pipeline's data/ back to back, as a text file at the
model's 173.61 Hz and as an EDF+ file at 256 Hz (scipy's FFT resampler), with each seizure
recording annotated. Usage: edf_recordings.py DATA_DIR OUT_DIR"""
import sys

import numpy as np
import pyedflib
import scipy.signal

data, out = sys.argv[1], sys.argv[2]
signals = np.load(f"{data}/test_signal.npy")
labels = np.load(f"{data}/test_signal_y.npy")
x = np.concatenate(list(signals)).astype(np.float64)
np.savetxt(f"{out}/held-out.txt", x, fmt="%.6f")
rate = 256
x256 = scipy.signal.resample(x, int(round(len(x) * rate / 173.61)))
x256 = x256[: len(x256) // rate * rate]
peak = float(np.ceil(np.abs(x256).max() * 1.1))
writer = pyedflib.EdfWriter(f"{out}/held-out.edf", 1, file_type=pyedflib.FILETYPE_EDFPLUS)
writer.setSignalHeaders([{
    "label": "EEG held-out", "dimension": "uV", "sample_frequency": rate,
    "physical_max": peak, "physical_min": -peak, "digital_max": 32767, "digital_min": -32768,
    "transducer": "", "prefilter": "",
}])
writer.writeSamples([x256])
seconds = signals.shape[1] / 173.61
for i in np.where(labels == 1)[0]:
    writer.writeAnnotation(float(i * seconds), float(seconds), "seizure")
writer.close()
print(f"{len(signals)} recordings, {len(x) / 173.61 / 60:.1f} min, {int(labels.sum())} with a seizure")
