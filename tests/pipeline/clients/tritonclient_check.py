#!/usr/bin/env python3
"""The Open Inference Protocol as Triton's own HTTP client sees it, against a running
inference service. Driven by tests/pipeline/tests/open_inference_protocol.rs.

    tritonclient_check.py HOST:PORT TOKEN RECORDINGS.json

RECORDINGS.json: {"recordings": [[178 floats], ...], "probabilities": [...], "model": name,
"version": v} where probabilities are what POST /predict answered for the same recordings.
Prints one line per check; exits non-zero on the first failure.
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def main():
    url, token, fixture = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(fixture) as f:
        expected = json.load(f)
    model, version = expected["model"], expected["version"]
    recordings = np.array(expected["recordings"], dtype=np.float32)
    # tritonclient adds its own headers to the dict it is given: a fresh one per call.
    headers = {"Authorization": f"Bearer {token}"}
    client = httpclient.InferenceServerClient(url=url)

    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    server = client.get_server_metadata()
    check(server["name"] == "seizure-ops-inference", f"server metadata {server}")
    check(client.is_model_ready(model), f"is_model_ready({model!r})")
    check(client.is_model_ready(model, version), f"is_model_ready({model!r}, {version!r})")
    check(not client.is_model_ready(model, "999"), "a version that is not loaded is not ready")
    metadata = client.get_model_metadata(model)
    check(metadata["versions"] == [version], f"model metadata versions {metadata['versions']}")
    inputs = metadata["inputs"]
    check(
        inputs == [{"name": "recordings", "datatype": "FP32", "shape": [-1, 178]}],
        f"model metadata inputs {inputs}",
    )
    check(
        [o["name"] for o in metadata["outputs"]] == ["probability", "seizure"],
        f"model metadata outputs {metadata['outputs']}",
    )

    # JSON tensors (binary_data=False), outputs requested and not.
    tensor = httpclient.InferInput("recordings", list(recordings.shape), "FP32")
    tensor.set_data_from_numpy(recordings, binary_data=False)
    wanted = [
        httpclient.InferRequestedOutput("probability", binary_data=False),
        httpclient.InferRequestedOutput("seizure", binary_data=False),
    ]
    result = client.infer(model, [tensor], outputs=wanted, headers=dict(headers), request_id="r-1")
    probabilities = result.as_numpy("probability")
    check(probabilities.shape == (len(recordings),), f"probability shape {probabilities.shape}")
    gap = float(np.max(np.abs(probabilities - np.array(expected["probabilities"]))))
    check(gap < 1e-6, f"the same probabilities as POST /predict (max gap {gap:.2e})")
    response = result.get_response()
    check(response["id"] == "r-1", "the request id is echoed")
    check(response["model_version"] == version, f"served by version {version}")
    threshold = response["parameters"]["threshold"]
    seizure = result.as_numpy("seizure")
    check(
        (seizure == (probabilities.astype(np.float64) >= threshold)).all(),
        "seizure is probability >= the model's threshold",
    )
    only = client.infer(
        model,
        [tensor],
        model_version=version,
        outputs=[httpclient.InferRequestedOutput("probability", binary_data=False)],
        headers=dict(headers),
    )
    check(only.as_numpy("seizure") is None, "only the requested output comes back")
    # The client's defaults ask for binary outputs: answered as JSON, which it reads.
    default = client.infer(model, [tensor], headers=dict(headers))
    check(
        np.allclose(default.as_numpy("probability"), probabilities),
        "default outputs (binary requested) are read from JSON",
    )

    def refused(what, status, call):
        try:
            call()
        except InferenceServerException as error:
            check(
                str(error.status()) == str(status) and error.message(),
                f"{what}: {error.status()} {error.message()!r}",
            )
            return
        check(False, f"{what} was accepted")

    refused("no token", 401, lambda: client.infer(model, [tensor]))
    binary = httpclient.InferInput("recordings", list(recordings.shape), "FP32")
    binary.set_data_from_numpy(recordings, binary_data=True)
    refused("binary input data", 400, lambda: client.infer(model, [binary], headers=dict(headers)))
    wrong = httpclient.InferInput("recordings", [1, 177], "FP32")
    wrong.set_data_from_numpy(recordings[:1, :177], binary_data=False)
    refused("a recording of 177 samples", 400, lambda: client.infer(model, [wrong], headers=dict(headers)))
    huge = recordings[:1].copy()
    huge[0, 5] = 3e38
    extreme = httpclient.InferInput("recordings", [1, 178], "FP32")
    extreme.set_data_from_numpy(huge, binary_data=False)
    refused("a non-physical value", 400, lambda: client.infer(model, [extreme], headers=dict(headers)))
    refused("a version that is not loaded", 404,
            lambda: client.infer(model, [tensor], model_version="999", headers=dict(headers)))
    refused("another model", 404, lambda: client.infer("resnet50", [tensor], headers=dict(headers)))
    print("tritonclient: all checks passed")


if __name__ == "__main__":
    main()
