#!/usr/bin/env python3
"""The same request for every server in the side-by-side HTTP benchmark: the first N raw
recordings of the UCI CSV (default 23, one patient's worth), as
  - an Open Inference Protocol infer body (our inference service, `POST /v2/models/M/infer`),
  - an MLflow scoring body (`mlflow models serve`, `POST /invocations`: {"inputs": [[...]]}).

    peer-bodies.py CSV OUT_DIR [N]   writes OUT_DIR/oip.json and OUT_DIR/mlflow.json
"""

import csv
import json
import os
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 23
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            rows.append([float(v) for v in row[1:179]])
            if len(rows) == count:
                break
    oip = {
        "inputs": [
            {
                "name": "recordings",
                "shape": [len(rows), 178],
                "datatype": "FP32",
                "data": [v for row in rows for v in row],
            }
        ]
    }
    with open(os.path.join(out, "oip.json"), "w") as f:
        json.dump(oip, f)
    with open(os.path.join(out, "mlflow.json"), "w") as f:
        json.dump({"inputs": rows}, f)


if __name__ == "__main__":
    main()
