//! The inference service over HTTP, with a real (tiny) trained and promoted model and a real
//! patient store: every endpoint and error, the audit log on SQLite and PostgreSQL, and
//! reloads under load.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use auth_tokens::{Issuer, Role, SigningAlgorithm, SigningKey};
use evaluate::registry;
use pipeline_tests::serving::{answer, assert_error, patient_ids, patient_samples, App};
use pipeline_tests::{shared_workspace, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_patient_prediction_carries_every_field() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let patient = patient_ids(ws)[0];
    let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patient_id"], patient);
    assert_eq!(body["model_version"], "1");
    assert_eq!(body["recordings"], 23);
    // One threshold: the one training chose on validation, which evaluation scored with.
    let card = seizure_model::artifact::read_card(&ws.path("production")).unwrap();
    let threshold = card.decision_threshold.as_ref().unwrap().value;
    assert_eq!(body["threshold"], threshold);
    assert_eq!(body["threshold_source"], "model_card");
    let evaluated: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("reports/metrics.json")).unwrap())
            .unwrap();
    assert_eq!(evaluated["threshold"], threshold);
    assert_eq!(evaluated["candidate"]["patients"]["threshold"], threshold);
    assert!(body["processed_by"]
        .as_str()
        .unwrap()
        .starts_with("inference@"));
    let per_recording = body["per_recording"].as_array().unwrap();
    assert_eq!(per_recording.len(), 23);
    let probabilities: Vec<f64> = per_recording
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    assert!(probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
    let mean = probabilities.iter().sum::<f64>() / 23.0;
    let reported = body["seizure_probability"].as_f64().unwrap();
    assert!((reported - mean).abs() < 1e-9, "{reported} vs mean {mean}");
    let expected_label = if mean >= threshold {
        "seizure"
    } else {
        "non-seizure"
    };
    assert_eq!(body["prediction"], expected_label);
    let flagged: Vec<u64> = body["epileptic_recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..23u64)
        .filter(|&i| probabilities[i as usize] >= threshold)
        .collect();
    assert_eq!(flagged, expected);
    for (i, record) in per_recording.iter().enumerate() {
        assert_eq!(record["index"], i);
        assert!((1..=23).contains(&record["chunk"].as_u64().unwrap()));
    }

    // The same recordings sent as raw signals get the same answer, without a patient id.
    let admin = app.token(Role::Admin);
    let signals = json!({ "recordings": patient_samples(ws, patient) });
    let (status, raw) = app.post("/predict", signals, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    assert!(raw.get("patient_id").is_none());
    assert_eq!(raw["seizure_probability"], body["seizure_probability"]);
    assert_eq!(raw["epileptic_recordings"], body["epileptic_recordings"]);
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let clinician = app.token(Role::Clinician);
    let token = Some(clinician.as_str());

    let (status, body) = app.get("/predict/abc", token).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "positive integer");
    let (status, body) = app.get("/predict/-3", token).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "positive integer");
    let (status, body) = app.get("/predict/99999", token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no patient 99999");
    let patient = format!("/predict/{}", patient_ids(ws)[0]);
    let (status, body) = app.get(&patient, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "bearer");
    let (status, body) = app.get(&patient, Some("not-a-token")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "well-formed");
    let stranger = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
    let forged = Issuer::new(stranger, "seizure-ops-auth", "seizure-ops", 900)
        .issue("mallory", Role::Admin)
        .unwrap()
        .0;
    let (status, body) = app.post("/reload-model", json!({}), Some(&forged)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unknown key");
    let (status, body) = app.post("/reload-model", json!({}), token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "admin");
    let (status, body) = app.get("/logs", token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "admin");

    let response = app
        .http
        .post(format!("{}/predict", app.base))
        .bearer_auth(&clinician)
        .header("content-type", "application/json")
        .body("{\"recordings\": [[1, 2,")
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "as JSON");
    // A body past MAX_BODY_BYTES (9 MiB, mostly whitespace, valid JSON) is 413, not a 429 of
    // the user's share of the body budget (which is one largest body): no retry helps.
    let response = app
        .http
        .post(format!("{}/predict", app.base))
        .bearer_auth(&clinician)
        .header("content-type", "application/json")
        .body(format!("{{\"recordings\": [[{}1]]}}", " ".repeat(9 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = app.post("/predict", json!({"recordings": []}), token).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at least one",
    );
    let mut recordings = vec![vec![0.0; 178]; 3];
    recordings[2].pop();
    let (status, body) = app
        .post("/predict", json!({ "recordings": recordings }), token)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "recording 2 has 177 samples, expected 178",
    );
    let too_many = vec![vec![0.0; 178]; 1001];
    let (status, body) = app
        .post("/predict", json!({ "recordings": too_many }), token)
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "at most 1000");
    let (status, body) = app.get("/no/such/route", token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no such route");

    let metrics = app.metrics().await;
    for line in [
        // Six refused above, and the 9 MiB body.
        "predictions_total{outcome=\"invalid_input\"} 7",
        "predictions_total{outcome=\"unknown_patient\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_signals_are_the_store_s_and_the_page_is_served_self_contained() {
    let ws = shared_workspace();
    let app = App::spawn_with(
        &ws.path("production"),
        &ws.path("patients/store"),
        None,
        |args| {
            args.ui_auth_url = Some("http://127.0.0.1:8001/".into());
            // 50 reads at once below (the per-user limit has its own test).
            args.signal_reads_per_minute = 100;
        },
    )
    .await;
    let clinician = app.token(Role::Clinician);
    let token = Some(clinician.as_str());

    let (status, list) = app.get("/patients", token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids = patient_ids(ws);
    assert_eq!(list["patients"], json!(ids));
    assert_eq!(list["count"], ids.len());
    let patient = ids[0];
    let (status, signal) = app
        .get(&format!("/patients/{patient}/recordings"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{signal}");
    assert_eq!(signal["patient_id"], patient);
    assert_eq!(signal["sampling_hz"], 173.61);
    assert_eq!(signal["samples_per_recording"], 178);
    let stored = patient_samples(ws, patient);
    let recordings: Vec<Vec<f64>> = serde_json::from_value(signal["recordings"].clone()).unwrap();
    assert_eq!(
        recordings, stored,
        "the samples the store holds, in the predictions' order"
    );
    let (_, prediction) = app.get(&format!("/predict/{patient}"), token).await;
    let chunks: Vec<Value> = prediction["per_recording"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chunk"].clone())
        .collect();
    assert_eq!(signal["chunks"], json!(chunks));

    // Hostile and careless requests: JSON errors, no signal.
    for (path, expected, words) in [
        (
            "/patients/abc/recordings",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        (
            "/patients/-1/recordings",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        (
            "/patients/1e3/recordings",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        (
            "/patients/18446744073709551616/recordings",
            StatusCode::BAD_REQUEST,
            "positive integer",
        ),
        (
            "/patients/99999999/recordings",
            StatusCode::NOT_FOUND,
            "no patient 99999999",
        ),
    ] {
        let (status, body) = app.get(path, token).await;
        assert_error(status, &body, expected, words);
    }
    for path in [
        "/patients".to_owned(),
        format!("/patients/{patient}/recordings"),
    ] {
        let (status, body) = app.get(&path, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "bearer");
        let (status, body) = app.get(&path, Some("not-a-token")).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "well-formed");
    }
    // The same patient read 50 times at once: 50 identical answers.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (api, token) = (app.api.clone(), clinician.clone());
        reads.spawn(async move {
            api.get(&format!("/patients/{patient}/recordings"), Some(&token))
                .await
        });
    }
    while let Some(read) = reads.join_next().await {
        let (status, body) = read.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["recordings"], signal["recordings"]);
    }

    // The page: its assets from the binary under a policy that allows this service and the
    // auth origin only; no token needed for them, no data in them.
    let page = app
        .http
        .get(format!("{}/ui", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "/ui redirects to /ui/");
    assert_eq!(page.url().path(), "/ui/");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self';")
            && policy.contains("connect-src 'self' http://127.0.0.1:8001;"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/ui/app.js") && !html.contains("https://"),
        "no CDN"
    );
    let config = app
        .http
        .get(format!("{}/ui/config.json", app.base))
        .send()
        .await
        .unwrap();
    let config: Value = config.json().await.unwrap();
    assert_eq!(config, json!({"auth_url": "http://127.0.0.1:8001"}));
    for (asset, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let response = app
            .http
            .get(format!("{}/ui/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        // Nothing remote: the only URL is the SVG namespace (a name, never fetched).
        let text = response.text().await.unwrap();
        let text = text.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{asset} fetches nothing remote"
        );
    }
    let (status, body) = app.get("/ui/missing.js", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no such route");
}

/// The service's test arguments on the shared workspace, its files in `dir`, its key file
/// `dir/key_file` (not read until the start).
fn args_with_key_file(dir: &std::path::Path, key_file: &str) -> inference::InferenceArgs {
    let ws = shared_workspace();
    let mut args = pipeline_tests::serving::default_args(
        &ws.path("production"),
        &ws.path("patients/store"),
        dir,
    );
    args.public_key_file = Some(dir.join(key_file));
    args
}

/// A remote that cannot be used stops the start before the audit database is created or the
/// key set read.
#[tokio::test]
async fn an_unusable_remote_stops_the_start_before_anything_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    // Its key file does not exist: reading it would be a different error.
    let mut args = args_with_key_file(dir.path(), "missing-keys.json");
    args.remote.remote_url = Some("ftp://bucket/dvcstore".into());
    let error = inference::build_state(&args.settings().unwrap())
        .await
        .err()
        .expect("refused");
    let message = format!("{error:#}");
    assert!(!message.contains("missing-keys.json"), "{message}");
    assert!(
        !dir.path().join("predictions.db").exists(),
        "the audit database was created before the remote was checked"
    );
}

#[tokio::test]
async fn a_page_url_that_could_inject_into_its_policy_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_with_key_file(dir.path(), "auth-public.json");
    args.ui_auth_url = Some("http://auth; script-src *".into());
    let error = args.settings().expect_err("refused");
    assert!(error.to_string().contains("UI_AUTH_URL"), "{error}");
}

#[tokio::test]
async fn without_a_model_the_service_is_up_but_not_ready() {
    let ws = shared_workspace();
    let empty = tempfile::tempdir().unwrap();
    let app = App::spawn(empty.path(), &ws.path("patients/store"), None).await;
    let (status, _) = app.get("/health/live", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/health/ready", None).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "no model");
    let token = app.token(Role::Clinician);
    let patient = format!("/predict/{}", patient_ids(ws)[0]);
    let (status, body) = app.get(&patient, Some(&token)).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "no model");
    let (status, body) = app.get("/model-info", None).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "no model");
    let admin = app.token(Role::Admin);
    let (status, body) = app.post("/reload-model", json!({}), Some(&admin)).await;
    assert_error(status, &body, StatusCode::BAD_GATEWAY, "holds no model");
    assert!(app.metrics().await.contains("model_loaded 0"));

    // A promotion arrives: the reload makes the service ready, without a restart.
    registry::copy_files(&ws.path("production"), empty.path()).unwrap();
    let (status, body) = app.post("/reload-model", json!({}), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["old_version"], Value::Null);
    assert_eq!(body["new_version"], "1");
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Split hygiene: a patient store built from another data version (here: another split
/// seed, whose held-out pool overlaps this model's training segments) never answers, and
/// patient-pull does not rebuild the store for a production model trained on other data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_store_from_another_split_is_refused() {
    let ws = shared_workspace();
    let dir = tempfile::tempdir().unwrap();
    let mut other =
        eeg_data::prepare::PrepareOptions::new(ws.path("raw/eeg.csv"), dir.path().join("data"));
    other.split.seed = 99;
    eeg_data::prepare::prepare(&other).unwrap();
    // For the production model (trained on the seed-42 data) nothing is built: with no store
    // to keep, that is an error naming why.
    let err = patient_pull::pull_patients(&patient_pull::PatientPullSettings {
        data: dir.path().join("data"),
        out: dir.path().join("patients"),
        production: Some(ws.path("production")),
        dvc: Default::default(),
    })
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("may be segments the model was trained on"),
        "{err:#}"
    );
    assert!(!dir.path().join("patients").exists());
    // Built anyway (no --production), it is refused by inference.
    patient_pull::pull_patients(&patient_pull::PatientPullSettings {
        data: dir.path().join("data"),
        out: dir.path().join("patients"),
        production: None,
        dvc: Default::default(),
    })
    .unwrap()
    .built();
    // Kept, once a store exists.
    match patient_pull::pull_patients(&patient_pull::PatientPullSettings {
        data: dir.path().join("data"),
        out: dir.path().join("patients"),
        production: Some(ws.path("production")),
        dvc: Default::default(),
    })
    .unwrap()
    {
        patient_pull::Pulled::Kept(reason) => {
            assert!(reason.contains("may be segments"), "{reason}")
        }
        patient_pull::Pulled::Built(_) => panic!("a store for a model trained on other data"),
    }
    let app = App::spawn(
        &ws.path("production"),
        &dir.path().join("patients/store"),
        None,
    )
    .await;
    // Degraded, not out of rotation: raw signals still work.
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["patients"]["available"], false, "{body}");
    assert!(
        body["patients"]["reason"]
            .as_str()
            .unwrap()
            .contains("may be segments"),
        "{body}"
    );
    let token = app.token(Role::Clinician);
    let store = patient_store::PatientStore::open(&dir.path().join("patients/store")).unwrap();
    let (status, body) = app
        .get(
            &format!("/predict/{}", store.patient_ids()[0]),
            Some(&token),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "was trained on data",
    );
    assert_eq!(body["error"], "store_mismatch");
    // Raw signals do not involve the store: still answered.
    let signals = json!({ "recordings": vec![vec![10.0; 178]; 2] });
    let (status, _) = app.post("/predict", signals, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_explicit_threshold_override_is_reported_in_every_answer() {
    let ws = shared_workspace();
    let app = App::spawn_with(
        &ws.path("production"),
        &ws.path("patients/store"),
        None,
        |args| args.threshold = Some(0.999),
    )
    .await;
    let token = app.token(Role::Clinician);
    let patient = patient_ids(ws)[0];
    let (status, body) = app.get(&format!("/predict/{patient}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["threshold"], 0.999);
    assert_eq!(body["threshold_source"], "override");
    let flagged = body["per_recording"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["probability"].as_f64().unwrap() >= 0.999)
        .count();
    assert_eq!(
        body["epileptic_recordings"].as_array().unwrap().len(),
        flagged
    );
    let (_, info) = app.get("/model-info", None).await;
    assert_eq!(info["threshold"], 0.999);
    assert_eq!(info["threshold_source"], "override");
}

#[tokio::test]
async fn model_info_metrics_and_openapi_describe_the_service() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let (status, info) = app.get("/model-info", None).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["name"], "seizure-lstm");
    assert_eq!(info["version"], "1");
    let card = seizure_model::artifact::read_card(&ws.path("production")).unwrap();
    assert_eq!(info["run_id"], card.run_id.clone().unwrap());
    assert_eq!(
        info["training_data_md5"],
        card.training_data_md5.clone().unwrap()
    );
    assert_eq!(info["input"]["samples_per_recording"], 178);
    // The card's training metrics, as the card has them.
    assert!(card.metrics.contains_key("val_loss"));
    assert_eq!(info["metrics"]["val_loss"], card.metrics["val_loss"]);
    assert!(info["loaded_at"].as_str().unwrap().ends_with('Z'));

    let token = app.token(Role::Clinician);
    for &id in &patient_ids(ws)[..3] {
        let (status, _) = app.get(&format!("/predict/{id}"), Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let metrics = app.metrics().await;
    for needle in [
        "http_requests_total{method=\"GET\",route=\"/predict/{patient_id}\",status=\"200\"} 3",
        "http_request_duration_seconds_bucket",
        "prediction_duration_seconds_count 3",
        "recordings_scored_total 69",
        "model_info{version=\"1\"} 1",
        "model_loaded 1",
        "model_reloads_total{result=\"failure\"} 0",
        "predictions_total{outcome=\"no_model\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    assert!(
        !metrics.contains("/predict/1\""),
        "raw paths never become labels"
    );

    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/predict/{patient_id}",
        "/predict",
        "/reload-model",
        "/model-info",
        "/logs",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} in the OpenAPI document"
        );
    }
    let docs = app
        .http
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui-bundle.js"));
}

#[tokio::test]
async fn non_physical_values_are_refused_naming_the_recording_and_sample() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let mut recordings = vec![vec![10.0; 178]; 2];
    // Finite as f64, infinite as the model's f32: once answered "non-seizure" with a null
    // probability and then blocked the audit log. Finite as f32 but no EEG: once answered a
    // confident "seizure".
    for (value, reason) in [
        (1e39, "recording 1 has a non-finite value at sample 42"),
        (1e30, "recording 1 sample 42"),
    ] {
        recordings[1][42] = value;
        let body = json!({ "recordings": recordings });
        let (status, refused) = app.post("/predict", body, Some(&token)).await;
        assert_error(status, &refused, StatusCode::UNPROCESSABLE_ENTITY, reason);
    }
    // Too long a recording is refused as it is read, with the same 422 as too short a one.
    let (status, refused) = app
        .post(
            "/predict",
            json!({ "recordings": [vec![1.0; 500]] }),
            Some(&token),
        )
        .await;
    assert_error(
        status,
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "recording 0 has more than 178 samples",
    );
    // JSON numbers beyond f64 are a parse error, answered 400 in JSON.
    let response = app
        .http
        .post(format!("{}/predict", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"recordings\": [[1e400{}]]}}",
            ", 1".repeat(177)
        ))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "number out of range",
    );
    // The data set's own extremes are fine.
    recordings[1][42] = -1885.0;
    recordings[1][43] = 2047.0;
    let (status, body) = app
        .post(
            "/predict",
            json!({ "recordings": recordings }),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = body["seizure_probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    // Only the answered prediction is audited, and the log still answers.
    let admin = app.token(Role::Admin);
    let (status, page) = app.get("/logs", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let (status, ready) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["audit"]["healthy"], true, "{ready}");
    assert_eq!(ready["audit"]["durable"], true, "{ready}");
    assert_eq!(ready["audit"]["backlog"], 0, "{ready}");
}

#[tokio::test]
async fn one_user_cannot_take_every_core() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let greedy = app.issuer.issue("greedy", Role::Clinician).unwrap().0;
    let other = app.issuer.issue("other", Role::Clinician).unwrap().0;
    let body = json!({ "recordings": vec![vec![100.0; 178]; 2] });
    // Four of greedy's predictions in progress (the default per-user limit).
    let in_progress: Vec<_> = (0..4)
        .map(|_| app.state.admission.admit("greedy").unwrap())
        .collect();
    let response = app
        .http
        .post(format!("{}/predict", app.base))
        .bearer_auth(&greedy)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let (status, refused) = answer(response).await;
    assert_error(
        status,
        &refused,
        StatusCode::TOO_MANY_REQUESTS,
        "4 predictions in progress",
    );
    let patient = format!("/predict/{}", patient_ids(ws)[0]);
    let (status, _) = app.get(&patient, Some(&greedy)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "both prediction routes"
    );
    let (status, served) = app.post("/predict", body.clone(), Some(&other)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another clinician is served: {served}"
    );
    drop(in_progress);
    let (status, _) = app.post("/predict", body, Some(&greedy)).await;
    assert_eq!(status, StatusCode::OK, "slots come back");
    assert_eq!(app.state.admission.in_progress(), 0);
    assert!(app
        .metrics()
        .await
        .contains("predictions_total{outcome=\"overloaded\"} 2"));
}

async fn every_prediction_is_audited(database: Option<String>) {
    let ws = shared_workspace();
    let app = App::spawn(&ws.path("production"), &ws.path("patients/store"), database).await;
    let clinician = app.token(Role::Clinician);
    let ids = patient_ids(ws);
    let mut answers = Vec::new();
    for &id in &ids[1..4] {
        let (status, answer) = app.get(&format!("/predict/{id}"), Some(&clinician)).await;
        assert_eq!(status, StatusCode::OK);
        answers.push(answer);
    }
    let (status, _) = app
        .post(
            "/predict",
            json!({"recordings": [vec![0.0; 178]]}),
            Some(&clinician),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = app.token(Role::Admin);
    let (status, first) = app.get("/logs?limit=3", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let records = first["records"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["patient_id"], Value::Null, "newest first");
    assert_eq!(records[0]["recordings"], 1);
    assert_eq!(records[1]["patient_id"], ids[3]);
    assert_eq!(records[1]["username"], "ada");
    assert_eq!(records[1]["role"], "clinician");
    assert_eq!(records[1]["model_version"], "1");
    assert_eq!(records[1]["recordings"], 23);
    assert!(records[1]["request_id"].as_str().unwrap().len() >= 16);
    assert!(records[1]["at"].as_str().unwrap().ends_with('Z'));
    // The record keeps the patient decision the answer was called by.
    let answer = &answers[2];
    let decision = &records[1]["decision"];
    assert_eq!(decision["rule"], answer["patient_rule"], "{decision}");
    assert_eq!(decision["score"], answer["patient_score"]);
    assert_eq!(decision["threshold"], answer["patient_threshold"]);
    assert_eq!(decision["source"], answer["patient_threshold_source"]);
    assert_eq!(
        records[1]["prediction"],
        answer["patient_score"].as_f64().unwrap() >= answer["patient_threshold"].as_f64().unwrap()
    );
    let cursor = first["next"].as_str().unwrap();
    let (status, second) = app
        .get(&format!("/logs?limit=3&cursor={cursor}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rest = second["records"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["patient_id"], ids[1]);
    assert_eq!(second["next"], Value::Null);
    let (status, body) = app.get("/logs?cursor=bogus", Some(&admin)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "cursor");
    let (status, body) = app.get("/logs?limit=0", Some(&admin)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "limit");
}

#[tokio::test]
async fn every_prediction_is_audited_in_sqlite() {
    every_prediction_is_audited(None).await;
}

#[tokio::test]
async fn every_prediction_is_audited_in_postgres() {
    let Some(server) = test_support::postgres_server() else {
        return;
    };
    let database = test_support::fresh_postgres_database(&server, "inference_test").await;
    every_prediction_is_audited(Some(database)).await;
}

/// PostgreSQL down when inference starts (a restart of the database, a compose start
/// order): the service starts, serves and reports itself degraded, not out of rotation;
/// once the database answers, the migrations run and every answer is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_starts_and_serves_while_its_database_is_down() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    tokio::task::block_in_place(|| server.pause());
    let ws = shared_workspace();
    let app = App::spawn(
        &ws.path("production"),
        &ws.path("patients/store"),
        Some(server.url()),
    )
    .await;
    let (status, ready) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["audit"]["healthy"], false, "{ready}");
    assert_eq!(ready["audit"]["durable"], true, "{ready}");
    let token = app.token(Role::Clinician);
    let patient = format!("/predict/{}", patient_ids(ws)[0]);
    for _ in 0..5 {
        let (status, body) = app.get(&patient, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    tokio::task::block_in_place(|| server.resume());
    let admin = app.token(Role::Admin);
    app.wait_until_audit_is_written().await;
    let (status, page) = app.get("/logs", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"].as_array().unwrap().len(), 5, "{page}");
}

/// Neither the database nor the spill file can keep a record: predictions are refused (503
/// `audit_unavailable`) and readiness is 503; once the spill file's directory exists again,
/// predictions are admitted (degraded) without waiting for the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_prediction_is_answered_while_no_record_can_be_kept() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    tokio::task::block_in_place(|| server.pause());
    let ws = shared_workspace();
    let spill_dir = tempfile::tempdir().unwrap();
    let missing = spill_dir.path().join("not-yet");
    let spill_file = missing.join("predictions.spill.jsonl");
    let app = App::spawn_with(
        &ws.path("production"),
        &ws.path("patients/store"),
        Some(server.url()),
        |args| args.audit_spill_file = spill_file.clone(),
    )
    .await;
    let (status, body) = app.get("/health/ready", None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot be recorded",
    );
    let token = app.token(Role::Clinician);
    let patient = format!("/predict/{}", patient_ids(ws)[0]);
    let (status, body) = app.get(&patient, Some(&token)).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot be recorded",
    );
    assert_eq!(body["error"], "audit_unavailable");
    // The disk is fixed: admitted again, records spilled, the database still down.
    std::fs::create_dir(&missing).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = app.get("/health/ready", None).await;
        if status == StatusCode::OK {
            assert_eq!(body["status"], "degraded", "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (status, body) = app.get(&patient, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !spill_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer was not spilled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_and_flushes_the_audit_log() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    // A large batch, so it is still being scored when the shutdown starts.
    let request = app
        .http
        .post(format!("{}/predict", app.base))
        .bearer_auth(&token)
        .json(&json!({ "recordings": vec![vec![1.0; 178]; 1000] }))
        .send();
    let in_flight = tokio::spawn(request);
    // Proven in flight (admitted, being scored), not assumed after a sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.admission.in_progress() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the request never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let log = app.state.log.clone();
    app.shut_down().await.unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the in-flight request finished"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["recordings"], 1000);
    let page = log.page(10, None).await.unwrap();
    assert_eq!(
        page.records.len(),
        1,
        "its audit record was written before exit"
    );
    assert_eq!(page.records[0].recordings, 1000);
}

/// Two promoted releases of different models, and one that must fail validation.
struct Releases {
    ws: Workspace,
    v1: PathBuf,
    v2: PathBuf,
    broken: PathBuf,
}

fn snapshot(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    registry::copy_files(from, to).unwrap();
}

fn releases() -> Releases {
    let ws = Workspace::promoted(1);
    let v1 = ws.path("release-v1");
    snapshot(&ws.path("production"), &v1);
    ws.train(2, 3e-3);
    let (_, promotion) = ws.evaluate_forced("a second release for the reload tests");
    assert_eq!(promotion.unwrap().to_version, "2");
    let v2 = ws.path("release-v2");
    snapshot(&ws.path("production"), &v2);
    // Same files as v2 but with damaged weights: the integrity check refuses it.
    let broken = ws.path("release-broken");
    snapshot(&v2, &broken);
    let weights = broken.join(seizure_model::artifact::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::set_permissions(&weights, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&weights, bytes).unwrap();
    Releases { ws, v1, v2, broken }
}

/// What a promotion does to `production/`: replaces it atomically.
fn install(release: &Path, production: &Path) {
    artifact_store::atomic::replace_dir(production, |dir| registry::copy_files(release, dir))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_drop_no_request_and_switch_versions() {
    let releases = tokio::task::spawn_blocking(releases).await.unwrap();
    let production = releases.ws.path("production");
    install(&releases.v1, &production);
    let app = Arc::new(App::for_workspace(&releases.ws).await);
    let token = app.token(Role::Clinician);
    let admin = app.token(Role::Admin);

    // A steady stream of predictions while production changes under it.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let ids = patient_ids(&releases.ws);
    let client = {
        let (app, stop, failures) = (app.clone(), stop.clone(), failures.clone());
        tokio::spawn(async move {
            let mut versions = Vec::new();
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = ids[sent % ids.len()];
                let (status, body) = app.get(&format!("/predict/{id}"), Some(&token)).await;
                sent += 1;
                if status == StatusCode::OK {
                    let version = body["model_version"].as_str().unwrap().to_owned();
                    if versions.last() != Some(&version) {
                        versions.push(version);
                    }
                } else {
                    eprintln!("request {sent} failed: {status} {body}");
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
            (sent, versions)
        })
    };

    let mut serving = "1".to_owned();
    for round in 0..20 {
        let (release, expected) = match round {
            7 => (&releases.broken, None),
            r if r % 2 == 0 => (&releases.v2, Some("2")),
            _ => (&releases.v1, Some("1")),
        };
        install(release, &production);
        let (status, body) = app.post("/reload-model", json!({}), Some(&admin)).await;
        match expected {
            Some(version) => {
                assert_eq!(status, StatusCode::OK, "round {round}: {body}");
                assert_eq!(body["old_version"], serving.as_str());
                assert_eq!(body["new_version"], version);
                serving = version.to_owned();
            }
            None => {
                assert_error(status, &body, StatusCode::CONFLICT, "failed validation");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("still serving version {serving}")),
                    "{body}"
                );
                let (_, info) = app.get("/model-info", None).await;
                assert_eq!(
                    info["version"],
                    serving.as_str(),
                    "the old model keeps serving"
                );
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (sent, versions) = client.await.unwrap();
    assert_eq!(failures.load(Ordering::SeqCst), 0, "no request failed");
    assert!(sent > 100, "a steady stream: {sent} requests");
    assert!(
        versions.len() >= 4 && versions.contains(&"1".into()) && versions.contains(&"2".into()),
        "answers switched versions: {versions:?}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("model_reloads_total{result=\"success\"} 19"),
        "{metrics}"
    );
    assert!(
        metrics.contains("model_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("model_info{{version=\"{serving}\"}} 1")));
    let old = if serving == "1" { "2" } else { "1" };
    assert!(
        !metrics.contains(&format!("model_info{{version=\"{old}\"}}")),
        "one version at a time"
    );
}

/// Three replicas over one production release, each watching it every second: a promotion
/// reaches all of them without any `POST /reload-model`, a release that fails validation is
/// refused once per replica (and not retried every tick) while they keep serving, and the
/// next good release reaches them all again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_follows_the_production_pointer_by_itself() {
    let releases = tokio::task::spawn_blocking(releases).await.unwrap();
    let production = releases.ws.path("production");
    install(&releases.v1, &production);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            App::spawn_with(
                &production,
                &releases.ws.path("patients/store"),
                None,
                |args| args.model_watch_seconds = 1,
            )
            .await,
        );
    }
    async fn versions(replicas: &[App]) -> Vec<String> {
        let mut out = Vec::new();
        for app in replicas {
            let (_, info) = app.get("/model-info", None).await;
            out.push(info["version"].as_str().unwrap_or("none").to_owned());
        }
        out
    }
    // Polls until every replica serves `want`; returns how long that took.
    async fn converge(replicas: &[App], want: &str) -> std::time::Duration {
        let start = std::time::Instant::now();
        loop {
            let now = versions(replicas).await;
            if now.iter().all(|v| v == want) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "replicas did not converge on {want}: {now:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert_eq!(versions(&replicas).await, ["1", "1", "1"]);

    install(&releases.v2, &production);
    let took = converge(&replicas, "2").await;
    eprintln!("a promotion reached 3 replicas in {took:?} (watch interval 1 s)");

    install(&releases.broken, &production);
    // Several ticks: each replica refuses the broken release once and keeps serving 2.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(versions(&replicas).await, ["2", "2", "2"]);
    for app in &replicas {
        let metrics = app.metrics().await;
        assert!(
            metrics
                .lines()
                .any(|l| l == "model_reloads_total{result=\"failure\"} 1"),
            "refused once, not every tick: {metrics}"
        );
        assert!(
            metrics.lines().any(|l| l == "model_info{version=\"2\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.lines().any(|l| l == "model_behind_pointer 1"),
            "serving 2 while production names the broken release: {metrics}"
        );
    }

    install(&releases.v1, &production);
    converge(&replicas, "1").await;
    for app in &replicas {
        let metrics = app.metrics().await;
        // Two automatic reloads (to 2, back to 1); one more only if a tick read the release
        // half-installed (it then looks again).
        let successes: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("model_reloads_total{result=\"success\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((2..=4).contains(&successes), "{metrics}");
        assert!(
            metrics.lines().any(|l| l == "model_behind_pointer 0"),
            "{metrics}"
        );
        assert!(!metrics.contains("model_info{version=\"2\"}"), "{metrics}");
    }
    // The admin endpoint says how the rest of the fleet follows.
    let admin = replicas[0].token(Role::Admin);
    let (status, body) = replicas[0]
        .post("/reload-model", json!({}), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["fleet"].as_str().unwrap().contains("every 1 s"),
        "{body}"
    );
    assert!(
        body["replica"].as_str().unwrap().starts_with("inference@"),
        "{body}"
    );
}

/// The value of an unlabelled gauge in a metrics page.
fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// What joins the fleet's drift window: new input once (`POST /predict` recordings, a
/// session's non-overlapping windows), not the patient store read again and again (nor
/// posted back), and only
/// the serving model's windows (a reload starts it afresh; a session pinned to the previous
/// model adds nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_window_takes_new_input_once_and_only_the_serving_model_s() {
    let releases = tokio::task::spawn_blocking(releases).await.unwrap();
    let production = releases.ws.path("production");
    install(&releases.v1, &production);
    // One user here: no share limit (tested by one_user_moves_the_drift_gauges_...).
    let app = App::spawn_with(
        &production,
        &releases.ws.path("patients/store"),
        None,
        |args| args.drift_max_user_share = 1.0,
    )
    .await;
    let clinician = app.token(Role::Clinician);
    let admin = app.token(Role::Admin);
    let windows = |metrics: String| gauge(&metrics, "input_drift_window_windows");
    assert_eq!(windows(app.metrics().await), 0.0);

    let patient = patient_ids(&releases.ws)[0];
    for _ in 0..3 {
        let (status, body) = app
            .get(&format!("/predict/{patient}"), Some(&clinician))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        windows(app.metrics().await),
        0.0,
        "the store is not new input"
    );

    // The store's recordings posted back are not new input either (an exact match).
    let stored = patient_samples(&releases.ws, patient);
    let (status, body) = app
        .post(
            "/predict",
            json!({ "recordings": &stored[..10] }),
            Some(&clinician),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(windows(app.metrics().await), 0.0, "the store posted back");
    // Nor are the data set's other recordings (public: the test split, the training
    // signals), which the model's profile fingerprints, posted back or streamed live.
    let dataset = eeg_data::processed::ProcessedDataset::open(&releases.ws.path("data")).unwrap();
    let test_split: Vec<Vec<f64>> = dataset
        .raw(eeg_data::processed::Split::Test)
        .unwrap()
        .outer_iter()
        .take(23)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let (status, body) = app
        .post(
            "/predict",
            json!({ "recordings": &test_split }),
            Some(&clinician),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        windows(app.metrics().await),
        0.0,
        "the test split posted back"
    );
    let (status, session) = app
        .post("/monitor/sessions", json!({}), Some(&clinician))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let replayed = test_split[..4].concat();
    let (status, answer) = app
        .post(
            &format!(
                "/monitor/sessions/{}/samples",
                session["session_id"].as_str().unwrap()
            ),
            json!({ "samples": replayed }),
            Some(&clinician),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        !answer["windows"].as_array().unwrap().is_empty(),
        "{answer}"
    );
    assert_eq!(
        windows(app.metrics().await),
        0.0,
        "the test split streamed live, recording after recording"
    );
    // The same shifted by 1 µV are.
    let recordings: Vec<Vec<f64>> = stored
        .iter()
        .map(|r| r.iter().map(|v| v + 1.0).collect())
        .collect();
    let ten = json!({ "recordings": &recordings[..10] });
    let (status, body) = app.post("/predict", ten.clone(), Some(&clinician)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(windows(app.metrics().await), 10.0);

    // A session with an 8-sample hop: 100 windows, of which every 23rd (ceil(178 / 8))
    // does not overlap the one before: 5 join.
    let (status, session) = app
        .post("/monitor/sessions", json!({"hop": 8}), Some(&clinician))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["session_id"].as_str().unwrap().to_owned();
    let signal: Vec<f64> = recordings.concat().into_iter().take(178 + 8 * 99).collect();
    let push = |samples: Vec<f64>| {
        let (api, token, id) = (app.api.clone(), clinician.clone(), id.clone());
        async move {
            api.post(
                &format!("/monitor/sessions/{id}/samples"),
                json!({ "samples": samples }),
                Some(&token),
            )
            .await
        }
    };
    let (status, answer) = push(signal.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["windows"].as_array().unwrap().len(), 100);
    assert_eq!(windows(app.metrics().await), 15.0);

    // Version 2 served: the window starts afresh, and the session pinned to version 1 adds
    // nothing to it.
    install(&releases.v2, &production);
    let (status, reload) = app.post("/reload-model", json!({}), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{reload}");
    assert_eq!(reload["new_version"], "2");
    assert_eq!(windows(app.metrics().await), 0.0);
    let (status, answer) = push(signal[..8 * 100].to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model_version"], "1");
    assert_eq!(windows(app.metrics().await), 0.0);
    let (status, body) = app.post("/predict", ten, Some(&clinician)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(windows(app.metrics().await), 10.0);
}

/// Fresh synthetic background recordings (seeds far from the data set's), `count` of them,
/// scaled by `gain` and shifted by `offset` µV.
fn fresh_background(first_seed: u64, count: usize, gain: f64, offset: f64) -> Vec<Vec<f64>> {
    (first_seed..)
        .flat_map(|seed| {
            let class = 2 + (seed % 4) as u8;
            eeg_data::synthetic::reference_segment(class, seed)
                .chunks_exact(178)
                .map(|w| w.iter().map(|&v| f64::from(v) * gain + offset).collect())
                .collect::<Vec<Vec<f64>>>()
        })
        .take(count)
        .collect()
}

/// Regression: the fleet's drift window held 1,000 windows and one `POST /predict` carried
/// 1,000 recordings with no per-user share: one request at gain x2 took `input_drift_score`
/// 0.70 -> 2.39, 1,000 seizure-like recordings set `predicted_seizure_rate` to 1.0, and a
/// replay of the store's own EEG masked another user's drift. Now each user holds at most
/// `DRIFT_MAX_USER_SHARE` (0.1) of the window, and the store's recordings posted back are
/// left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_moves_the_drift_gauges_by_their_share_at_most() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let metrics = || async { app.metrics().await };
    let post = |user: &'static str, recordings: Vec<Vec<f64>>| {
        let token = app.issuer.issue(user, Role::Clinician).unwrap().0;
        let api = app.api.clone();
        async move {
            for chunk in recordings.chunks(1_000) {
                let (status, body) = api
                    .post("/predict", json!({ "recordings": chunk }), Some(&token))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }
    };
    // One user alone fills a share, not the window (the profile's capacity is known once
    // the window takes its first windows).
    post("u0", fresh_background(100_000, 1_000, 1.0, 0.0)).await;
    let m = metrics().await;
    let capacity = gauge(&m, "input_drift_window_size") as usize;
    let share = gauge(&m, "input_drift_window_user_share") as usize;
    assert_eq!(share, capacity.div_ceil(10), "capacity {capacity}");
    assert_eq!(gauge(&m, "input_drift_window_windows") as usize, share);
    assert_eq!(gauge(&m, "input_drift_ready"), 0.0);
    // Twelve users fill it (a share each of calls; a few are called seizure, and the
    // statistics need a full window of background ones).
    const USERS: [&str; 12] = [
        "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11",
    ];
    for (i, user) in USERS.iter().enumerate() {
        post(
            user,
            fresh_background(200_000 + 1_000 * i as u64, share, 1.0, 0.0),
        )
        .await;
    }
    let m = metrics().await;
    assert!(
        gauge(&m, "input_drift_window_users") >= 10.0,
        "a tenth each at most"
    );
    assert_eq!(gauge(&m, "input_drift_ready"), 1.0);
    let score_before = gauge(&m, "input_drift_score");
    let rate_before = gauge(&m, "predicted_seizure_rate");
    let ks_before = max_ks(&m);
    let wasserstein_before = per_feature(&m, "input_drift_wasserstein");

    // Poisoning: one request of 1,000 recordings at +300 µV (the issue took the score to 18).
    post("eve", fresh_background(300_000, 1_000, 1.0, 300.0)).await;
    let m = metrics().await;
    let ks_poisoned = max_ks(&m);
    eprintln!(
        "capacity {capacity}, share {share}: score {score_before:.2} -> {:.2}, max KS \
         {ks_before:.3} -> {ks_poisoned:.3}",
        gauge(&m, "input_drift_score")
    );
    // The KS statistic of a window where one user holds a tenth moves by about a tenth.
    assert!(
        ks_poisoned <= ks_before + share as f64 / capacity as f64 + 0.05,
        "{ks_before} -> {ks_poisoned}"
    );
    // The normalised Wasserstein distance by at most the share times the reference's range
    // (incoming values are clamped to it): before, +300 µV from one user moved it without
    // bound.
    let production = ws.path("production");
    let card = seizure_model::artifact::read_card(&production).unwrap();
    let profile = seizure_model::artifact::load_profile(&production, &card)
        .unwrap()
        .unwrap();
    let wasserstein_poisoned = per_feature(&m, "input_drift_wasserstein");
    for (j, name) in drift::FEATURES.iter().enumerate() {
        let column = &profile.drift.reference[j];
        let range = (column[column.len() - 1] - column[0]) / profile.drift.reference_std[j];
        let moved = wasserstein_poisoned[*name] - wasserstein_before[*name];
        assert!(
            moved <= share as f64 / capacity as f64 * range + 1e-9,
            "{name}: moved {moved}, more than a share of the range {range}"
        );
    }
    // Seizure-like input from one user moves the predicted-seizure rate by a share at most.
    let seizures: Vec<Vec<f64>> = (400_000..)
        .flat_map(|seed| {
            eeg_data::synthetic::reference_segment(1, seed)
                .chunks_exact(178)
                .map(|w| w.iter().map(|&v| f64::from(v)).collect())
                .collect::<Vec<Vec<f64>>>()
        })
        .take(1_000)
        .collect();
    post("mallory", seizures).await;
    let rate_after = gauge(&metrics().await, "predicted_seizure_rate");
    assert!(
        rate_after <= rate_before + 2.0 * share as f64 / capacity as f64 + 1e-9,
        "predicted seizure rate {rate_before} -> {rate_after}"
    );

    // Masking: the store's own recordings posted back add nothing.
    let windows = gauge(&metrics().await, "input_drift_window_windows");
    let stored: Vec<Vec<f64>> = patient_ids(ws)
        .into_iter()
        .flat_map(|id| patient_samples(ws, id))
        .take(1_000)
        .collect();
    let score = gauge(&metrics().await, "input_drift_score");
    post("trudy", stored).await;
    let m = metrics().await;
    assert_eq!(gauge(&m, "input_drift_window_windows"), windows);
    assert_eq!(gauge(&m, "input_drift_score"), score);
}

/// A per-feature gauge's values by feature.
fn per_feature(metrics: &str, name: &str) -> std::collections::HashMap<String, f64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}{{feature=\"")))
        .filter_map(|rest| {
            let (feature, value) = rest.split_once("\"} ")?;
            Some((feature.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn max_ks(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("input_drift_ks{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max)
}

#[tokio::test]
async fn the_patient_list_carries_each_call_computed_once_and_not_audited_per_read() {
    let ws = shared_workspace();
    let app = App::spawn(&ws.path("production"), &ws.path("patients/store"), None).await;
    let clinician = app.token(Role::Clinician);
    let token = Some(clinician.as_str());
    let (status, _) = app.get("/patients/verdicts", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // 50 first reads at once: one computation, the same list for all.
    let reads: Vec<_> = (0..50)
        .map(|_| {
            let (app, token) = (app.clone(), clinician.clone());
            tokio::spawn(async move { app.get("/patients/verdicts", Some(&token)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for read in reads {
        answers.push(read.await.unwrap());
    }
    let first = answers[0].1.clone();
    for (status, list) in &answers {
        assert_eq!(*status, StatusCode::OK, "{list}");
        assert_eq!(list, &first, "one computation, one list");
    }
    let ids = patient_ids(ws);
    let listed: Vec<u64> = first["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["patient_id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(first["model_version"], "1");
    // Each call is the one `GET /predict/{id}` gives.
    for patient in first["patients"].as_array().unwrap().iter().take(5) {
        let id = patient["patient_id"].as_u64().unwrap();
        let (_, prediction) = app.get(&format!("/predict/{id}"), token).await;
        assert_eq!(patient["prediction"], prediction["prediction"], "{id}");
        assert_eq!(
            patient["patient_score"], prediction["patient_score"],
            "{id}"
        );
        assert_eq!(first["patient_threshold"], prediction["patient_threshold"]);
    }
    // Reads of the list wrote no audit record (the five predictions above did).
    let admin = app.token(Role::Admin);
    let (status, page) = app.get("/logs?limit=100", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["records"].as_array().unwrap().len(), 5, "{page}");
    let metrics = app.metrics().await;
    let scored = gauge(&metrics, "recordings_scored_total");
    assert_eq!(
        scored as usize,
        (ids.len() + 5) * eeg_data::CHUNKS_PER_SEGMENT,
        "the list was computed once"
    );
}
