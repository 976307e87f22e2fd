//! `seizure-ops up` as a newcomer runs it: synthetic data (announced), the whole pipeline, both
//! APIs; then log in, predict, reload, Ctrl-C. And `pipeline` stopping at a bad input.

mod common;

use std::time::Duration;

use common::{login, seizure_ops, Running, ANY_PORTS};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[test]
fn up_runs_the_pipeline_serves_both_apis_and_stops_on_ctrl_c() {
    let home = tempfile::tempdir().unwrap();
    let up = Running::quick_up(home.path());
    for stage in [
        "tracking: the local store",
        "artifacts: the local DVC cache",
        "[1/4] preprocessing",
        "[2/4] training",
        "[3/4] evaluate/promote",
        "[4/4] patient-pull",
        "promoted seizure-lstm version 1",
        "pipeline finished",
    ] {
        assert!(up.banner.contains(stage), "{stage} missing:\n{}", up.banner);
    }
    let password = up.generated_password();
    let (auth, inference) = (up.url("auth"), up.url("inference"));
    let patient = up.example_patient();
    assert!(up.banner.contains(&format!("{inference}/reload-model")));

    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&http, &auth, &password);
    let prediction: Value = http
        .get(format!("{inference}/predict/{patient}"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(prediction["patient_id"], json!(patient));
    assert_eq!(prediction["model_version"], json!("1"));
    let probability = prediction["seizure_probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&probability), "{prediction}");

    let reload = http
        .post(format!("{inference}/reload-model"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(reload.status(), StatusCode::OK);
    let reload: Value = reload.json().unwrap();
    assert_eq!(reload["status"], "reloaded");
    assert_eq!(reload["new_version"], "1");

    let stderr = up.interrupt();
    assert!(stderr.contains("SYNTHETIC data set"), "{stderr}");

    // A second start keeps the admin (no new password) and the signing key. It logs JSON
    // with span events: a request's work can be followed by its id.
    let again = Running::start(
        seizure_ops(home.path())
            .arg("serve")
            .args(ANY_PORTS)
            .env("LOG_FORMAT", "json")
            .env("LOG_SPANS", "true")
            .env("RUST_LOG", "warn,inference=debug,http_kit=info"),
    );
    assert!(!again.banner.contains("with password"), "{}", again.banner);
    assert!(again.banner.contains("YOUR-ADMIN-PASSWORD"));
    let token = login(&http, &again.url("auth"), &password);
    let answer = http
        .get(format!("{}/predict/{patient}", again.url("inference")))
        .bearer_auth(&token)
        .header("x-request-id", "follow-me-42")
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let stderr = again.interrupt();
    let closed: Vec<Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "close")
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == "follow-me-42"))
        })
        .collect();
    let names: Vec<&str> = closed
        .iter()
        .filter_map(|line| line["span"]["name"].as_str())
        .collect();
    for step in ["predict_patient", "score", "audit"] {
        assert!(
            names.contains(&step),
            "{step} not followed: {names:?}\n{stderr}"
        );
    }
    let handler = closed
        .iter()
        .find(|line| line["span"]["name"] == "predict_patient")
        .unwrap();
    assert_eq!(
        handler["span"]["patient"],
        json!(patient.to_string()),
        "{handler}"
    );
    assert!(handler["time.busy"].is_string(), "{handler}");
}

#[test]
fn pipeline_stops_at_the_first_failing_stage_and_names_it() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.csv");
    std::fs::write(&bad, ",X1,y\nX1.V1.1,12,9\n").unwrap();
    let out = seizure_ops(home.path())
        .args(["pipeline", "--raw-csv"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pipeline stopped at stage 1/4 (preprocessing)"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.csv"), "{stderr}");
    assert!(!home.path().join("data").exists(), "nothing half-written");
    assert!(
        !home.path().join("models").exists(),
        "later stages did not run"
    );

    let missing = seizure_ops(home.path())
        .args(["pipeline", "--raw-csv", "nowhere.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr.contains("nowhere.csv"), "{stderr}");
}

/// A service setting that cannot be used stops `up` and `serve` at once, naming it: before the
/// pipeline runs, a key is written or a database is opened.
#[test]
fn unusable_service_settings_stop_up_and_serve_before_anything_is_written() {
    // A port another process holds.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let cases = [
        (
            "PREDICTION_THRESHOLD",
            "1.5",
            "PREDICTION_THRESHOLD must be between 0 and 1",
        ),
        (
            "CORS_ALLOWED_ORIGINS",
            "http://host/path",
            "CORS_ALLOWED_ORIGINS",
        ),
        ("ACCESS_TOKEN_TTL", "0", "access-token-ttl"),
        // Caps that cannot fit: the memory inference's caps need.
        (
            "MEMORY_LIMIT_BYTES",
            "1000000",
            "more than the memory limit",
        ),
        // The first admin's password: a file that is not there, one the policy refuses.
        (
            "ADMIN_PASSWORD_FILE",
            "/nonexistent/admin_password",
            "cannot read ADMIN_PASSWORD_FILE /nonexistent/admin_password",
        ),
        ("ADMIN_PASSWORD", "short", "the first admin's password"),
        // A port already taken, for either service (the other listens on any free port).
        (
            "AUTH_LISTEN",
            busy.as_str(),
            &format!("auth: cannot listen on {busy}"),
        ),
        (
            "INFERENCE_LISTEN",
            busy.as_str(),
            &format!("inference: cannot listen on {busy}"),
        ),
    ];
    for (variable, value, expected) in cases {
        for command in ["up", "serve"] {
            let home = tempfile::tempdir().unwrap();
            let mut run = seizure_ops(home.path());
            for (other, _, _) in cases {
                run.env_remove(other);
            }
            // Not the default ports, which another fleet on this machine may hold.
            run.env("AUTH_LISTEN", "127.0.0.1:0")
                .env("INFERENCE_LISTEN", "127.0.0.1:0");
            let out = run.arg(command).env(variable, value).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{command} {variable}: {stderr}");
            assert!(stderr.contains(expected), "{command} {variable}: {stderr}");
            let written: Vec<_> = std::fs::read_dir(home.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(written.is_empty(), "{command} {variable}: {written:?}");
        }
    }
}

/// `serve` with both services on one port is refused before anything is written.
#[test]
fn both_services_on_one_port_are_refused_before_anything_is_written() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap().to_string();
    drop(free);
    let home = tempfile::tempdir().unwrap();
    let out = seizure_ops(home.path())
        .arg("serve")
        .env("AUTH_LISTEN", &address)
        .env("INFERENCE_LISTEN", &address)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("inference: cannot listen on {address}")),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

/// One `serve` process, two services: while two clinicians' hop-8 replays keep inference's
/// scoring busy on both cores, auth (its own runtime and blocking threads) keeps answering:
/// `/health/live` and logins (argon2id).
#[test]
fn auth_answers_while_two_clinicians_saturate_inference() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let home = tempfile::tempdir().unwrap();
    let up = Running::start(
        seizure_ops(home.path())
            .env("MONITOR_REPLAY_SPEED", "64")
            .arg("up")
            .args(common::QUICK)
            .args(ANY_PORTS),
    );
    let (auth, inference) = (up.url("auth"), up.url("inference"));
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let admin = login(&http, &auth, &up.generated_password());
    let mut clinicians = Vec::new();
    for name in ["carol", "dave"] {
        let created = http
            .post(format!("{auth}/users"))
            .bearer_auth(&admin)
            .json(&json!({"username": name, "password": "a-long-password-1", "role": "clinician"}))
            .send()
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        clinicians.push(common::login_as(&http, &auth, name, "a-long-password-1"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let samples: Vec<f64> = (0..17_361)
        .map(|i| ((i % 178) as f64).sin() * 50.0)
        .collect();
    let pushers: Vec<_> = clinicians
        .iter()
        .flat_map(|token| [token.clone(), token.clone()])
        .map(|token| {
            let (http, inference, stop, samples) = (
                http.clone(),
                inference.clone(),
                stop.clone(),
                samples.clone(),
            );
            std::thread::spawn(move || {
                let session: Value = http
                    .post(format!("{inference}/monitor/sessions"))
                    .bearer_auth(&token)
                    .json(&json!({"hop": 8, "replay": true}))
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                let id = session["session_id"].as_str().unwrap().to_owned();
                let mut pushed = 0;
                while !stop.load(Ordering::Relaxed) {
                    let answer = http
                        .post(format!("{inference}/monitor/sessions/{id}/samples"))
                        .bearer_auth(&token)
                        .json(&json!({ "samples": samples }))
                        .send()
                        .unwrap();
                    if answer.status() == StatusCode::OK {
                        pushed += 1;
                    } else {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                pushed
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut health = Vec::new();
    let mut logins = Vec::new();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let started = Instant::now();
        let live = http.get(format!("{auth}/health/live")).send().unwrap();
        assert_eq!(live.status(), StatusCode::OK);
        health.push(started.elapsed());
        if health.len() % 20 == 0 {
            let started = Instant::now();
            common::login_as(&http, &auth, "carol", "a-long-password-1");
            logins.push(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    stop.store(true, Ordering::Relaxed);
    let pushed: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
    health.sort();
    logins.sort();
    let p99 = health[(health.len() - 1) * 99 / 100];
    eprintln!(
        "under {pushed} hostile pushes: auth /health/live p50 {:?} p99 {p99:?} ({} probes), \
         logins {logins:?}",
        health[health.len() / 2],
        health.len()
    );
    assert!(pushed > 0, "the pushes ran");
    // Not a speed target: a starved auth would take seconds (the pushes' time).
    assert!(
        p99 < Duration::from_millis(500),
        "auth /health/live p99 {p99:?}"
    );
    assert!(
        logins.last().is_some_and(|l| *l < Duration::from_secs(5)),
        "{logins:?}"
    );
    up.interrupt();
}

/// With an OTLP endpoint, a request's spans leave the process: `serve` exports them to a real
/// MLflow server (its OTLP/HTTP traces endpoint), and MLflow's own client reads back one trace
/// for the request: the request span with its id, the handler under it, the scoring (on a
/// blocking thread) and the audit write under that.
#[test]
fn a_requests_spans_reach_an_otlp_collector_as_one_trace() {
    // The caller's ids: new for every run (a tracking server keeps a trace id for good).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let caller_trace = format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 64));
    let caller_span = format!("{:016x}", (nanos as u64) | 1);
    let (caller_trace, caller_span) = (caller_trace.as_str(), caller_span.as_str());
    if !cfg!(feature = "fleet") {
        test_support::skip("OTLP export is part of the fleet feature");
        return;
    }
    let (Some(mlflow), Some(python)) = (test_support::mlflow_uri(), test_support::mlflow_python())
    else {
        test_support::skip("no MLflow server (MLFLOW_TEST_URI) or its Python client");
        return;
    };
    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let experiment: Value = http
        .post(format!("{mlflow}/api/2.0/mlflow/experiments/create"))
        .json(&json!({ "name": test_support::unique_prefix("otlp") }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let experiment_id = experiment["experiment_id"].as_str().unwrap().to_owned();

    let home = tempfile::tempdir().unwrap();
    let up = Running::quick_up(home.path());
    let password = up.generated_password();
    up.interrupt();

    // A collector that is down costs the requests nothing, and the stop still comes.
    let down = Running::start(seizure_ops(home.path()).arg("serve").args(ANY_PORTS).env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{}", test_support::free_port()),
    ));
    let token = login(&http, &down.url("auth"), &password);
    let answer = http
        .get(format!(
            "{}/predict/{}",
            down.url("inference"),
            down.example_patient()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let stopping = std::time::Instant::now();
    down.interrupt();
    assert!(
        stopping.elapsed() < Duration::from_secs(30),
        "{:?}",
        stopping.elapsed()
    );

    // The logs stay at warnings (RUST_LOG=warn): the export does not depend on them.
    let traced = Running::start(
        seizure_ops(home.path())
            .arg("serve")
            .args(ANY_PORTS)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &mlflow)
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("x-mlflow-experiment-id={experiment_id}"),
            ),
    );
    let patient = traced.example_patient();
    let token = login(&http, &traced.url("auth"), &password);
    let answer = http
        .get(format!("{}/predict/{patient}", traced.url("inference")))
        .bearer_auth(&token)
        .header("x-request-id", "traced-request-7")
        // The caller's W3C trace context: the request's spans join the caller's trace.
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // Ctrl-C flushes the batched spans before the process exits.
    traced.interrupt();

    let found = test_support::json_through_python(
        &python,
        &test_support::workspace_root().join("apps/seizure-ops/tests/clients/mlflow_traces.py"),
        &json!({ "tracking_uri": mlflow, "experiment_id": experiment_id }),
    );
    let traces = found["traces"].as_array().unwrap();
    let trace = traces
        .iter()
        .find(|t| {
            t["spans"].as_array().unwrap().iter().any(|s| {
                s["name"] == "request" && s["attributes"]["request_id"] == "traced-request-7"
            })
        })
        .unwrap_or_else(|| panic!("no trace of the request: {found}"));
    let spans = trace["spans"].as_array().unwrap();
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} span in {trace}"))
    };
    let (request, handler) = (span("request"), span("predict_patient"));
    assert!(
        trace["trace_id"].as_str().unwrap().ends_with(caller_trace),
        "{trace}"
    );
    assert_eq!(request["parent_id"], caller_span, "{trace}");
    assert_eq!(handler["parent_id"], request["span_id"], "{trace}");
    assert_eq!(handler["attributes"]["patient"], json!(patient.to_string()));
    // The scoring ran on a blocking thread, still inside the handler's span.
    for step in ["score", "audit"] {
        assert_eq!(
            span(step)["parent_id"],
            handler["span_id"],
            "{step}: {trace}"
        );
    }
}
