//! The Open Inference Protocol (KServe V2 REST) on the inference service, with a real (tiny)
//! trained and promoted model: metadata and readiness, `infer` answering exactly what
//! `POST /predict` answers for the same recordings (audited and counted the same way),
//! hostile requests refused in the protocol's `{"error": ...}` shape, 50 identical requests
//! at once, and Triton's own Python client (`tritonclient[http]`) against the service.

use std::process::Command;

use auth_tokens::Role;
use pipeline_tests::serving::{answer, patient_ids, patient_samples, App};
use pipeline_tests::{shared_workspace, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The registered model name the service serves.
fn model_name(ws: &Workspace) -> String {
    seizure_model::artifact::read_card(&ws.path("production"))
        .unwrap()
        .name
}

/// A protocol error: `expected` status, a body that is exactly `{"error": <text containing
/// words>}`.
fn assert_v2_error(status: StatusCode, body: &Value, expected: StatusCode, words: &str) {
    assert_eq!(status, expected, "{body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not JSON: {body}"));
    assert_eq!(object.len(), 1, "only `error`: {body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{message:?} should say {words:?}");
}

fn infer_body(recordings: &[Vec<f64>]) -> Value {
    json!({
        "inputs": [{
            "name": "recordings",
            "shape": [recordings.len(), 178],
            "datatype": "FP32",
            "data": recordings.iter().flatten().collect::<Vec<_>>(),
        }]
    })
}

/// The value of the metric line starting with `series` (name and labels), 0 if absent.
async fn metric(app: &App, series: &str) -> f64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Predictions counted as answered (seizure or not).
async fn answered(app: &App) -> f64 {
    metric(app, "predictions_total{outcome=\"seizure\"} ").await
        + metric(app, "predictions_total{outcome=\"no_seizure\"} ").await
}

/// `POST /predict`'s answer for `recordings` (which must succeed).
async fn predict(app: &App, token: &str, recordings: &[Vec<f64>]) -> Value {
    let (status, predicted) = app
        .post("/predict", json!({ "recordings": recordings }), Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{predicted}");
    predicted
}

async fn audit_rows(app: &App) -> usize {
    let admin = app.token(Role::Admin);
    let (status, page) = app.get("/logs?limit=500", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["records"].as_array().unwrap().len()
}

#[tokio::test]
async fn metadata_and_readiness_follow_the_protocol() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let name = model_name(ws);
    let (status, server) = app.get("/v2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["name"], "seizure-ops-inference");
    assert!(server["extensions"].is_array());
    assert_eq!(
        app.get("/v2/health/live", None).await.1,
        json!({"live": true})
    );
    assert_eq!(
        app.get("/v2/health/ready", None).await,
        (StatusCode::OK, json!({"ready": true}))
    );
    for path in [
        format!("/v2/models/{name}"),
        format!("/v2/models/{name}/versions/1"),
    ] {
        let (status, metadata) = app.get(&path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {metadata}");
        assert_eq!(metadata["name"], name.as_str());
        assert_eq!(metadata["versions"], json!(["1"]));
        assert_eq!(
            metadata["inputs"],
            json!([{"name": "recordings", "datatype": "FP32", "shape": [-1, 178]}])
        );
        assert_eq!(
            metadata["outputs"],
            json!([
                {"name": "probability", "datatype": "FP32", "shape": [-1]},
                {"name": "seizure", "datatype": "BOOL", "shape": [-1]},
            ])
        );
        let (status, ready) = app.get(&format!("{path}/ready"), None).await;
        assert_eq!((status, ready), (StatusCode::OK, json!({"ready": true})));
    }
    let (status, body) = app
        .get(&format!("/v2/models/{name}/versions/7"), None)
        .await;
    assert_v2_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "version \"7\" is not loaded",
    );
    let (status, body) = app.get("/v2/models/resnet50/ready", None).await;
    assert_v2_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "no model \"resnet50\"",
    );

    // Without a model: live, not ready, metadata says why.
    let empty = tempfile::tempdir().unwrap();
    let bare = App::spawn(empty.path(), &ws.path("patients/store"), None).await;
    assert_eq!(bare.get("/v2/health/live", None).await.0, StatusCode::OK);
    assert_eq!(
        bare.get("/v2/health/ready", None).await,
        (StatusCode::SERVICE_UNAVAILABLE, json!({"ready": false}))
    );
    let (status, body) = bare.get(&format!("/v2/models/{name}"), None).await;
    assert_v2_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "no model is loaded",
    );
}

#[tokio::test]
async fn infer_answers_what_predict_answers_and_is_audited() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let name = model_name(ws);
    let token = app.token(Role::Clinician);
    let recordings = patient_samples(ws, patient_ids(ws)[0]);
    let predicted = predict(&app, &token, &recordings).await;
    let rows_before = audit_rows(&app).await;
    let answered_before = answered(&app).await;
    let scored_before = metric(&app, "recordings_scored_total ").await;

    let mut body = infer_body(&recordings);
    body["id"] = json!("req-42");
    let (status, inferred) = app
        .post(&format!("/v2/models/{name}/infer"), body, Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{inferred}");
    assert_eq!(inferred["model_name"], name.as_str());
    assert_eq!(inferred["model_version"], "1");
    assert_eq!(inferred["id"], "req-42");
    let outputs = inferred["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0]["name"], "probability");
    assert_eq!(outputs[0]["datatype"], "FP32");
    assert_eq!(outputs[0]["shape"], json!([recordings.len()]));
    let threshold = predicted["threshold"].as_f64().unwrap();
    assert_eq!(inferred["parameters"]["threshold"], threshold);
    assert_eq!(
        inferred["parameters"]["seizure_probability"],
        predicted["seizure_probability"]
    );
    assert_eq!(
        inferred["parameters"]["prediction"],
        predicted["prediction"]
    );
    for (i, record) in predicted["per_recording"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let p = record["probability"].as_f64().unwrap();
        let q = outputs[0]["data"][i].as_f64().unwrap();
        assert!((p - q).abs() < 1e-6, "recording {i}: {p} vs {q}");
        assert_eq!(
            outputs[1]["data"][i],
            json!(p >= threshold),
            "recording {i}"
        );
    }
    assert_eq!(
        audit_rows(&app).await,
        rows_before + 1,
        "audited like /predict"
    );
    assert_eq!(
        answered(&app).await,
        answered_before + 1.0,
        "counted like /predict"
    );
    assert_eq!(
        metric(&app, "recordings_scored_total ").await,
        scored_before + recordings.len() as f64
    );

    // Nested data, a pinned version, one requested output.
    let mut nested = infer_body(&recordings[..2]);
    nested["inputs"][0]["data"] = json!(recordings[..2]);
    nested["outputs"] = json!([{"name": "seizure"}]);
    let (status, pinned) = app
        .post(
            &format!("/v2/models/{name}/versions/1/infer"),
            nested,
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pinned}");
    let outputs = pinned["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["name"], "seizure");
    assert_eq!(outputs[0]["shape"], json!([2]));
    assert!(pinned.get("id").is_none(), "no id asked, none echoed");
    let metrics = app.metrics().await;
    for route in [
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ] {
        assert!(
            metrics.contains(&format!("route=\"{route}\"")),
            "HTTP metrics per protocol route {route}: {metrics}"
        );
    }
}

#[tokio::test]
async fn hostile_infer_requests_get_protocol_errors() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let name = model_name(ws);
    let path = format!("/v2/models/{name}/infer");
    let token = app.token(Role::Clinician);
    let one = vec![vec![12.5; 178]];
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = infer_body(&one);
        edit(&mut body);
        body
    };
    let rows_before = audit_rows(&app).await;
    let invalid_before = metric(&app, "predictions_total{outcome=\"invalid_input\"} ").await;
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "1e39 (beyond f32)",
            with(&|b| b["inputs"][0]["data"][3] = json!(1e39)),
            StatusCode::BAD_REQUEST,
            "non-finite value at sample 3",
        ),
        (
            "-1e39",
            with(&|b| b["inputs"][0]["data"][0] = json!(-1e39)),
            StatusCode::BAD_REQUEST,
            "non-finite value at sample 0",
        ),
        (
            "3e38 (finite, non-physical)",
            with(&|b| b["inputs"][0]["data"][177] = json!(3e38)),
            StatusCode::BAD_REQUEST,
            "sample 177",
        ),
        (
            "a string",
            with(&|b| b["inputs"][0]["data"][5] = json!("7")),
            StatusCode::BAD_REQUEST,
            "expected a number",
        ),
        (
            "null",
            with(&|b| b["inputs"][0]["data"][5] = Value::Null),
            StatusCode::BAD_REQUEST,
            "expected a number",
        ),
        (
            "too few values",
            with(&|b| {
                b["inputs"][0]["data"].as_array_mut().unwrap().pop();
            }),
            StatusCode::BAD_REQUEST,
            "holds 177 values",
        ),
        (
            "too many values",
            with(&|b| {
                b["inputs"][0]["data"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(1))
            }),
            StatusCode::BAD_REQUEST,
            "holds 179 values",
        ),
        (
            "177 samples a row",
            with(&|b| b["inputs"][0]["shape"] = json!([1, 177])),
            StatusCode::BAD_REQUEST,
            "expected [n, 178]",
        ),
        (
            "a 1-D shape",
            with(&|b| b["inputs"][0]["shape"] = json!([178])),
            StatusCode::BAD_REQUEST,
            "expected [n, 178]",
        ),
        (
            "zero recordings",
            with(&|b| {
                b["inputs"][0]["shape"] = json!([0, 178]);
                b["inputs"][0]["data"] = json!([]);
            }),
            StatusCode::BAD_REQUEST,
            "at least one",
        ),
        (
            "a shape of 2^63",
            with(&|b| b["inputs"][0]["shape"] = json!([9_223_372_036_854_775_807u64, 178])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 1000",
        ),
        (
            "1001 recordings",
            with(&|b| b["inputs"][0]["shape"] = json!([1001, 178])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 1000",
        ),
        (
            "a negative dimension",
            with(&|b| b["inputs"][0]["shape"] = json!([-1, 178])),
            StatusCode::BAD_REQUEST,
            "shape",
        ),
        (
            "INT64",
            with(&|b| b["inputs"][0]["datatype"] = json!("INT64")),
            StatusCode::BAD_REQUEST,
            "datatype \"INT64\"",
        ),
        (
            "another input name",
            with(&|b| b["inputs"][0]["name"] = json!("x")),
            StatusCode::BAD_REQUEST,
            "unknown input \"x\"",
        ),
        (
            "two inputs",
            with(&|b| {
                let first = b["inputs"][0].clone();
                b["inputs"].as_array_mut().unwrap().push(first);
            }),
            StatusCode::BAD_REQUEST,
            "more than one input",
        ),
        (
            "no inputs",
            json!({"inputs": []}),
            StatusCode::BAD_REQUEST,
            "got none",
        ),
        (
            "an unknown output",
            with(&|b| b["outputs"] = json!([{"name": "logits"}])),
            StatusCode::BAD_REQUEST,
            "unknown output \"logits\"",
        ),
        (
            "an unknown field",
            with(&|b| b["input"] = json!(1)),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            "not an object",
            json!([1, 2, 3]),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "deep nesting",
            with(&|b| b["inputs"][0]["data"] = json!([[[[[[[[1.0]]]]]]]])),
            StatusCode::BAD_REQUEST,
            "holds 1 values",
        ),
    ];
    let refused_as_invalid = cases.len();
    for (what, body, expected, words) in cases {
        let (status, answer) = app.post(&path, body, Some(&token)).await;
        eprintln!("{what}: {status} {answer}");
        assert_v2_error(status, &answer, expected, words);
    }
    // Malformed JSON, and binary tensors (the protocol's binary extension).
    let raw = |body: &'static str, header: Option<(&'static str, &'static str)>| {
        let mut request = app
            .http
            .post(format!("{}{path}", app.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body);
        if let Some((key, value)) = header {
            request = request.header(key, value);
        }
        request.send()
    };
    let (status, body) = answer(raw("{\"inputs\": [", None).await.unwrap()).await;
    assert_v2_error(status, &body, StatusCode::BAD_REQUEST, "");
    let (status, body) = answer(
        raw(
            "{\"inputs\": []}",
            Some(("inference-header-content-length", "15")),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_v2_error(status, &body, StatusCode::BAD_REQUEST, "binary tensor data");
    // A JSON header that is the whole body is plain JSON (as Triton reads it).
    let json_only = infer_body(&one).to_string();
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&token)
        .header(
            "inference-header-content-length",
            json_only.len().to_string(),
        )
        .body(json_only)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "no content-type, header = body: {body}"
    );
    let rows_before = rows_before + 1;
    // Who may ask.
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .json(&infer_body(&one))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (status, body) = answer(response).await;
    assert_v2_error(status, &body, StatusCode::UNAUTHORIZED, "");
    let (status, body) = app.post(&path, infer_body(&one), Some("not-a-token")).await;
    assert_v2_error(status, &body, StatusCode::UNAUTHORIZED, "");
    let (status, body) = app
        .post("/v2/models/resnet50/infer", infer_body(&one), Some(&token))
        .await;
    assert_v2_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "no model \"resnet50\"",
    );
    let (status, body) = app
        .post(
            &format!("/v2/models/{name}/versions/2/infer"),
            infer_body(&one),
            Some(&token),
        )
        .await;
    assert_v2_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "version \"2\" is not loaded",
    );
    // An 8 MiB body of zeros: read only up to one request's worth, then refused.
    let zeros = format!(
        "{{\"inputs\":[{{\"name\":\"recordings\",\"shape\":[1,178],\"datatype\":\"FP32\",\"data\":[{}]}}]}}",
        vec!["0"; 4_000_000].join(",")
    );
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&token)
        .body(zeros)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_v2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "more than 178000 values",
    );
    // Wrong method on a protocol route, and a route the protocol does not have.
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_v2_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, "not allowed");
    let (status, body) = app.get("/v2/repository/index", None).await;
    assert_v2_error(status, &body, StatusCode::NOT_FOUND, "no such");
    assert_eq!(
        audit_rows(&app).await,
        rows_before,
        "nothing refused is audited"
    );
    let invalid = metric(&app, "predictions_total{outcome=\"invalid_input\"} ").await;
    assert!(
        invalid >= invalid_before + refused_as_invalid as f64,
        "every invalid request counted: {invalid_before} -> {invalid}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_infer_requests_at_once() {
    let ws = shared_workspace();
    let app = std::sync::Arc::new(App::for_workspace(ws).await);
    let path = format!("/v2/models/{}/infer", model_name(ws));
    let token = app.token(Role::Clinician);
    let body = infer_body(&patient_samples(ws, patient_ids(ws)[1]));
    let rows_before = audit_rows(&app).await;
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let (app, path, token, body) = (app.clone(), path.clone(), token.clone(), body.clone());
            tokio::spawn(async move { app.post(&path, body, Some(&token)).await })
        })
        .collect();
    let mut answered = Vec::new();
    let mut throttled = 0;
    for request in requests {
        let (status, body) = request.await.unwrap();
        match status {
            StatusCode::OK => answered.push(body["outputs"][0]["data"].clone()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_v2_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "in progress");
                throttled += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    eprintln!(
        "{} answered, {throttled} throttled (4 per user at once)",
        answered.len()
    );
    assert!(!answered.is_empty());
    assert!(
        answered.iter().all(|a| *a == answered[0]),
        "one answer for one input"
    );
    assert_eq!(audit_rows(&app).await, rows_before + answered.len());
    assert_eq!(app.state.admission.in_progress(), 0, "every slot returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_speaks_to_the_service() {
    let Some(python) = test_support::tritonclient_python() else {
        return;
    };
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let recordings = patient_samples(ws, patient_ids(ws)[2]);
    let predicted = predict(&app, &token, &recordings).await;
    let probabilities: Vec<f64> = predicted["per_recording"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    let fixture = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        fixture.path(),
        json!({
            "recordings": recordings,
            "probabilities": probabilities,
            "model": model_name(ws),
            "version": "1",
        })
        .to_string(),
    )
    .unwrap();
    let script =
        test_support::workspace_root().join("tests/pipeline/clients/tritonclient_check.py");
    let host = app.base.trim_start_matches("http://").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(host)
            .arg(token)
            .arg(fixture.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(
        output.status.success(),
        "tritonclient checks failed:\n{text}"
    );
    assert!(text.contains("tritonclient: all checks passed"), "{text}");
}
