#!/usr/bin/env python3
"""Scores recordings with an exported ONNX model in onnxruntime, after onnx's full checker
(schema, types and strict shape inference). Driven by tests/pipeline/tests/mlflow_model.rs.

    onnx_check.py MODEL.onnx RECORDINGS.json

RECORDINGS.json: {"recordings": [[178 floats], ...]}. Prints one JSON object: the
probabilities, the opset, and the graph's input and output names and shapes.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def shape(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main():
    path, fixture = sys.argv[1], sys.argv[2]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    with open(fixture) as f:
        recordings = np.asarray(json.load(f)["recordings"], dtype=np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probability"], {"recordings": recordings})
    print(
        json.dumps(
            {
                "probabilities": probabilities.astype(float).tolist(),
                "opset": model.opset_import[0].version,
                "inputs": [[i.name, shape(i)] for i in model.graph.input],
                "outputs": [[o.name, shape(o)] for o in model.graph.output],
                "metadata": {p.key: p.value for p in model.metadata_props},
            }
        )
    )


if __name__ == "__main__":
    main()
