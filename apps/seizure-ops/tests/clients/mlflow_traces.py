"""Reads back the traces an MLflow server received over OTLP, with MLflow's own client.

stdin: {"tracking_uri": ..., "experiment_id": ...}
stdout: {"traces": [{"spans": [{"name": ..., "parent_id": ..., "attributes": {...}}]}]}
"""
import json
import sys

from mlflow import MlflowClient

request = json.load(sys.stdin)
client = MlflowClient(tracking_uri=request["tracking_uri"])
traces = client.search_traces(locations=[request["experiment_id"]], max_results=100)
out = []
for trace in traces:
    spans = []
    for span in trace.data.spans:
        spans.append(
            {
                "name": span.name,
                "span_id": span.span_id,
                "parent_id": span.parent_id,
                "attributes": {k: v for k, v in (span.attributes or {}).items() if isinstance(v, (str, int, float, bool))},
            }
        )
    out.append({"trace_id": trace.info.trace_id, "spans": spans})
print(json.dumps({"traces": out}))
