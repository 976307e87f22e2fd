#!/usr/bin/env python3
"""The registered production model as MLflow's own Python client sees it: loaded with
`mlflow.pyfunc.load_model("models:/<name>@production")` from the tracking server in
MLFLOW_TRACKING_URI, scored on recordings. Driven by tests/pipeline/tests/mlflow_model.rs.

    mlflow_model_check.py MODEL_NAME RECORDINGS.json

Prints one JSON object: the probabilities, the signature, the input example, and the
registry's view (version, model id, logged model status, source run).
"""

import json
import sys

import mlflow
import numpy as np
from mlflow import MlflowClient


def main():
    name, fixture = sys.argv[1], sys.argv[2]
    uri = f"models:/{name}@production"
    with open(fixture) as f:
        recordings = np.asarray(json.load(f)["recordings"], dtype=np.float32)
    model = mlflow.pyfunc.load_model(uri)
    predicted = model.predict(recordings)
    probabilities = predicted["probability"] if isinstance(predicted, dict) else predicted
    info = mlflow.models.get_model_info(uri)
    version = MlflowClient().get_model_version_by_alias(name, "production")
    # Open-source MLflow keeps the logged model in the version's source (`models:/<id>`);
    # `model_id` is only filled in by Databricks' registry.
    model_id = version.model_id or version.source.removeprefix("models:/")
    logged = mlflow.get_logged_model(model_id)
    local = mlflow.artifacts.download_artifacts(uri)
    example = mlflow.models.Model.load(local).load_input_example(local)
    print(
        json.dumps(
            {
                "probabilities": np.asarray(probabilities).astype(float).tolist(),
                "signature": {
                    "inputs": info.signature.inputs.to_dict(),
                    "outputs": info.signature.outputs.to_dict(),
                },
                "flavors": sorted(info.flavors),
                "input_example_shape": list(np.asarray(example).shape),
                "version": version.version,
                "source": version.source,
                "model_id": model_id,
                "logged_model_status": str(logged.status),
                "logged_model_run": logged.source_run_id,
                "version_run": version.run_id,
            }
        )
    )


if __name__ == "__main__":
    main()
