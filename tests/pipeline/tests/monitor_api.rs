//! Bedside monitoring sessions over HTTP with a real (tiny) promoted model: windows and
//! events equal the offline monitor's at any chunking; hostile pushes refused without
//! touching the signal; 50 pushes at once; bounds on sessions and idle time; alarms audited.

use std::sync::Arc;
use std::time::Duration;

use auth_tokens::Role;
use bedside::{Monitor, MonitorConfig};
use pipeline_tests::serving::{assert_error, App};
use pipeline_tests::{shared_workspace, Workspace};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// About 94 s: background, two seizure segments, background.
fn signal() -> Vec<f64> {
    [(5, 11), (1, 7), (1, 8), (4, 3)]
        .iter()
        .flat_map(|&(class, seed)| eeg_data::synthetic::reference_segment(class, seed))
        .map(f64::from)
        .collect()
}

/// The signal's windows and events offline, in one push, on the same model (alarm at 1 of 1),
/// and the number of onsets among them.
fn offline(ws: &Workspace, samples: &[f64]) -> (Value, Value, usize) {
    let predictor = Arc::new(seizure_model::Predictor::load(&ws.path("production")).unwrap());
    let mut config = MonitorConfig::for_model(&predictor);
    config.rule.k = 1;
    config.rule.n = 1;
    let mut monitor = Monitor::new(predictor, config).unwrap();
    let update = monitor.push(samples).unwrap();
    let onsets = update
        .events
        .iter()
        .filter(|e| matches!(e, bedside::Event::SeizureOnset { .. }))
        .count();
    assert!(
        onsets > 0,
        "the seizure segments raise an alarm: {:?}",
        update.events
    );
    // Through JSON text, as the service's answers come (f32 probabilities printed as f32,
    // every number through the same parser).
    let json = |value: String| serde_json::from_str::<Value>(&value).unwrap();
    (
        json(serde_json::to_string(&update.windows).unwrap()),
        json(serde_json::to_string(&update.events).unwrap()),
        onsets,
    )
}

async fn open(app: &App, token: &str, body: Value) -> String {
    let (status, info) = app.post("/monitor/sessions", body, Some(token)).await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    info["session_id"].as_str().unwrap().to_owned()
}

async fn push(app: &App, token: &str, id: &str, samples: &[f64]) -> (StatusCode, Value) {
    app.post(
        &format!("/monitor/sessions/{id}/samples"),
        json!({ "samples": samples }),
        Some(token),
    )
    .await
}

async fn delete(app: &App, token: &str, id: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .delete(format!("{}/monitor/sessions/{id}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    pipeline_tests::serving::answer(response).await
}

#[tokio::test]
async fn a_session_streams_the_offline_monitors_windows_and_events_at_any_chunking() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let (status, info) = app
        .post(
            "/monitor/sessions",
            json!({"alarm_k": 1, "alarm_n": 1}),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["model_version"], "1");
    assert_eq!(info["window_samples"], 178);
    assert_eq!(info["hop"], 87);
    assert_eq!(info["threshold_source"], "model_card");
    let id = info["session_id"].as_str().unwrap().to_owned();

    let samples = signal();
    let (expected_windows, expected_events, onsets) = offline(ws, &samples);
    let (mut windows, mut events) = (Vec::new(), Vec::new());
    let mut at = 0;
    for size in [1, 5, 172, 178, 1000, 87, 3000].into_iter().cycle() {
        let end = (at + size).min(samples.len());
        let (status, body) = push(&app, &token, &id, &samples[at..end]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["samples_seen"], end);
        windows.extend(body["windows"].as_array().unwrap().iter().cloned());
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        at = end;
        if at == samples.len() {
            break;
        }
    }
    assert_eq!(Value::from(windows), expected_windows);
    assert_eq!(Value::from(events), expected_events);

    // Every onset is in the audit log, with its session.
    let admin = app.token(Role::Admin);
    let (status, page) = app.get("/logs?limit=100", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let alarms: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "monitor_alarm")
        .collect();
    assert_eq!(alarms.len(), onsets, "{page}");
    assert!(alarms.iter().all(|r| r["session_id"] == id.as_str()));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!("monitor_alarms_total {onsets}")),
        "{metrics}"
    );

    let (status, status_body) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_body["samples_seen"], samples.len());
    assert_eq!(status_body["alarms"], onsets);
    // The end is clean: an open seizure is closed, and the session is gone.
    let (status, closed) = delete(&app, &token, &id).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["in_seizure"], false);
    let (status, body) = push(&app, &token, &id, &samples[..10]).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "no monitoring session",
    );
}

#[tokio::test]
async fn hostile_pushes_are_refused_and_leave_the_signal_as_it_was() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let id = open(&app, &token, json!({})).await;
    let (status, _) = push(&app, &token, &id, &[1.0; 100]).await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/monitor/sessions/{id}/samples");
    let send = |body: String| {
        let request = app
            .http
            .post(format!("{}{path}", app.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body);
        async move { pipeline_tests::serving::answer(request.send().await.unwrap()).await }
    };
    for (body, expected, words) in [
        (
            r#"{"samples": [1, 2, 1e39]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "sample 2",
        ),
        (
            r#"{"samples": [1, -1e5]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "sample 1",
        ),
        (
            r#"{"samples": [1, 1e400]}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            r#"{"samples": [1, "2"]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            r#"{"samples": [1, NaN]}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            r#"{"samples": [1, null]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            r#"{"samples": 5}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            r#"{"samples": [1], "patient": 3}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (r#"{"samples": [1,"#.to_owned(), StatusCode::BAD_REQUEST, ""),
        (
            format!(r#"{{"samples": [{}]}}"#, vec!["0"; 17_362].join(",")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 17361",
        ),
    ] {
        let (status, answer) = send(body.clone()).await;
        assert_error(status, &answer, expected, words);
    }
    // Nothing of the refused pushes was appended.
    let (_, info) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(info["samples_seen"], 100);
    // A retried push (its answer lost) with its offset is refused, not appended twice.
    let with_offset = |offset: u64| json!({"samples": vec![1.0; 50], "offset": offset});
    let (status, body) = app.post(&path, with_offset(100), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["samples_seen"], 150);
    let (status, body) = app.post(&path, with_offset(100), Some(&token)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "has 150 samples");
    let (_, info) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(info["samples_seen"], 150);

    for bad in [
        json!({"alarm_k": 0}),
        json!({"alarm_k": 8, "alarm_n": 7}),
        json!({"alarm_n": 65}),
        json!({"hop": 0}),
        json!({"hop": 1}),
        json!({"hop": 1_000_000_000u64}),
        json!({"refractory_s": -1}),
        json!({"refractory_s": 1e300}),
        json!({"threshold": 0.1}),
        json!({"hop": -3}),
    ] {
        let (status, answer) = app
            .post("/monitor/sessions", bad.clone(), Some(&token))
            .await;
        assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, "");
    }
    // Who may do what: no token, another user, an admin.
    let (status, answer) = app.post("/monitor/sessions", json!({}), None).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "");
    let other = app.issuer.issue("grace", Role::Clinician).unwrap().0;
    let (status, answer) = push(&app, &other, &id, &[1.0]).await;
    assert_error(
        status,
        &answer,
        StatusCode::NOT_FOUND,
        "no monitoring session",
    );
    let admin = app.token(Role::Admin);
    let (status, _) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn fifty_pushes_at_once_lose_and_duplicate_nothing() {
    let ws = shared_workspace();
    let app = Arc::new(App::for_workspace(ws).await);
    let token = app.token(Role::Clinician);
    let id = open(&app, &token, json!({})).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, token, id) = (app.clone(), token.clone(), id.clone());
            tokio::spawn(async move { push(&app, &token, &id, &[3.0; 200]).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => accepted += 1,
            // The per-user limit on work in progress (4): a clear answer to retry.
            StatusCode::TOO_MANY_REQUESTS => assert!(body["error"].is_string(), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(accepted > 0);
    let (_, info) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(info["samples_seen"], accepted * 200);
}

#[tokio::test]
async fn sessions_are_bounded_in_number_and_idle_time() {
    let ws = shared_workspace();
    let app = App::spawn_with(
        &ws.path("production"),
        &ws.path("patients/store"),
        None,
        |args| {
            args.monitor.max_monitor_sessions = 3;
            args.monitor.max_monitor_sessions_per_user = 2;
            args.monitor.monitor_idle_seconds = 1;
        },
    )
    .await;
    let ada = app.token(Role::Clinician);
    let grace = app.issuer.issue("grace", Role::Clinician).unwrap().0;
    let first = open(&app, &ada, json!({})).await;
    open(&app, &ada, json!({})).await;
    let (status, body) = app.post("/monitor/sessions", json!({}), Some(&ada)).await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "close one first",
    );
    let kept = open(&app, &grace, json!({})).await;
    let (status, body) = app.post("/monitor/sessions", json!({}), Some(&grace)).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "3 monitoring sessions",
    );
    assert!(app.metrics().await.contains("monitor_sessions 3\n"));

    // Idle sessions close by themselves (1 s here); one in use stays.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, body) = push(&app, &grace, &kept, &[1.0]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = push(&app, &ada, &first, &[1.0]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "idle timeout");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("monitor_sessions_closed_total{end=\"idle\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("monitor_sessions 1\n"), "{metrics}");
    // With room again, a new session opens.
    open(&app, &ada, json!({})).await;
}

#[tokio::test]
async fn a_websocket_client_we_did_not_write_streams_the_same_windows_and_events() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    // Without an upgrade, or without a token: clear JSON refusals.
    let (status, body) = app.get("/monitor", Some(&token)).await;
    assert_error(
        status,
        &body,
        StatusCode::UPGRADE_REQUIRED,
        "/monitor/sessions",
    );
    let (status, body) = app.get("/monitor", None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "");

    let Some(python) = test_support::websockets_python() else {
        return;
    };
    let samples = signal();
    let (expected_windows, expected_events, onsets) = offline(ws, &samples);
    let spec = json!({
        "url": format!("{}/monitor?alarm_k=1&alarm_n=1", app.base.replace("http://", "ws://")),
        "token": token,
        "samples": samples,
        "chunks": [1, 500, 178, 2000, 87],
        "hostile": [
            r#"{"type": "samples", "samples": [1, 1e39]}"#,
            r#"{"type": "samples", "samples": [1], "patient": 3}"#,
            r#"{"type": "samples", "samples": [NaN]}"#,
            "not json",
            format!(r#"{{"type": "samples", "samples": [{}]}}"#, vec!["0"; 17_362].join(",")),
        ],
    });
    let script = test_support::workspace_root().join("tests/pipeline/clients/monitor_ws_check.py");
    let out = tokio::task::spawn_blocking(move || {
        test_support::json_through_python(&python, &script, &spec)
    })
    .await
    .unwrap();
    assert_eq!(out["session"]["type"], "session", "{out}");
    assert_eq!(out["session"]["alarm_k"], 1);
    assert_eq!(out["windows"], expected_windows);
    assert_eq!(out["events"], expected_events);
    let errors = out["errors"].as_array().unwrap();
    let statuses: Vec<u64> = errors
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [422, 422, 422, 422, 413], "{errors:?}");
    assert!(errors[0]["message"].as_str().unwrap().contains("sample 1"));
    assert_eq!(out["closed"]["type"], "closed");
    assert_eq!(out["closed"]["samples_seen"], samples.len());
    assert_eq!(out["close_reason"], "closed at the client's request");
    // The session is gone, and its alarms are audited.
    let id = out["session"]["session_id"].as_str().unwrap();
    let (status, _) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app
        .get("/logs?limit=100", Some(&app.token(Role::Admin)))
        .await;
    let audited = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["session_id"] == id)
        .count();
    assert_eq!(audited, onsets);
}

#[tokio::test]
async fn shutdown_ends_open_sockets_with_a_closed_message_before_the_audit_closes() {
    let Some(python) = test_support::websockets_python() else {
        return;
    };
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let url = format!("{}/monitor", app.base.replace("http://", "ws://"));
    let token = app.token(Role::Clinician);
    let script = test_support::workspace_root().join("tests/pipeline/clients/monitor_ws_hold.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(&token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The client's lines, read on a thread of their own.
    let stdout = child.stdout.take().unwrap();
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if line.map(|l| tx.send(l)).is_err() {
                break;
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.recv())
        .await
        .expect("the client is ready within 30 s");
    assert_eq!(ready.as_deref(), Some("ready"));
    // What SIGTERM does: the open socket is told and closed, then the service stops.
    tokio::time::timeout(Duration::from_secs(30), app.shut_down())
        .await
        .expect("shutdown finishes")
        .unwrap();
    let last = tokio::time::timeout(Duration::from_secs(30), lines.recv())
        .await
        .expect("the client reports")
        .expect("a report line");
    let out: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(out["messages"][0]["type"], "closed", "{out}");
    assert_eq!(out["messages"][0]["samples_seen"], 178);
    assert_eq!(out["close_code"], 1000, "{out}");
    assert_eq!(out["close_reason"], "the service is shutting down");
    assert!(child.wait().unwrap().success());
}

/// Audit records of a session's alarms.
async fn audited_alarms(app: &App, session: &str) -> usize {
    let (status, page) = app
        .get("/logs?limit=500", Some(&app.token(Role::Admin)))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["session_id"] == session && r["kind"] == "monitor_alarm")
        .count()
}

/// A client that sends a push and hangs up while it is being scored: the push happens whole
/// (its samples appended once, its alarms audited), as if the client had waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_push_leaves_its_samples_and_alarms_recorded() {
    use tokio::io::AsyncWriteExt;
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let samples = signal();
    // An 8-sample hop: about 2,000 windows to score, so the push is still running when the
    // client goes.
    let id = open(&app, &token, json!({"hop": 8, "alarm_k": 1, "alarm_n": 1})).await;
    let body = json!({ "samples": samples }).to_string();
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /monitor/sessions/{id}/samples HTTP/1.1\r\nhost: {address}\r\n\
         authorization: Bearer {token}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket.flush().await.unwrap();
    // Gone once the service has admitted the push and is scoring it (proven, not assumed
    // after a sleep) ...
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.state.admission.in_progress() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the push never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(socket);
    // ... and still scoring after the client went: the hang-up happened mid-push.
    assert!(
        app.state.admission.in_progress() > 0,
        "the push finished before the client hung up: the test proves nothing"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let alarms = loop {
        let (status, info) = app
            .get(&format!("/monitor/sessions/{id}"), Some(&token))
            .await;
        assert_eq!(status, StatusCode::OK, "{info}");
        let seen = info["samples_seen"].as_u64().unwrap();
        assert!(
            seen == 0 || seen == samples.len() as u64,
            "never part of a push: {info}"
        );
        let alarms = info["alarms"].as_u64().unwrap() as usize;
        if seen > 0 && audited_alarms(&app, &id).await == alarms {
            break alarms;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(alarms > 0, "the seizure segments raise alarms");
    // The client comes back and retries where it believes it was: told, not doubled.
    let (status, body) = app
        .post(
            &format!("/monitor/sessions/{id}/samples"),
            json!({ "samples": samples, "offset": 0 }),
            Some(&token),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "nothing was appended");
    let (_, info) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(info["samples_seen"], samples.len());
    assert_eq!(audited_alarms(&app, &id).await, alarms);
}

/// The audit database goes down in the middle of a monitored seizure: pushes are still
/// answered with their alarms (the bedside is told), the alarms wait in the spill file, and
/// reach the database once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_raised_while_the_audit_database_is_down_reach_it_once_it_is_back() {
    let Some(server) = test_support::OwnPostgres::start() else {
        return;
    };
    let ws = shared_workspace();
    let app = App::spawn(
        &ws.path("production"),
        &ws.path("patients/store"),
        Some(server.url()),
    )
    .await;
    let token = app.token(Role::Clinician);
    let samples = signal();
    let (_, expected_events, onsets) = offline(ws, &samples);
    let id = open(&app, &token, json!({"alarm_k": 1, "alarm_n": 1})).await;
    // The first background segment with the database up; then the outage, with the
    // seizures.
    let background = samples.len() / 4;
    let (status, first) = push(&app, &token, &id, &samples[..background]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["events"], json!([]), "no alarm before the outage");
    tokio::task::block_in_place(|| server.pause());
    let (status, second) = push(&app, &token, &id, &samples[background..]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let mut events = first["events"].as_array().unwrap().clone();
    events.extend(second["events"].as_array().unwrap().iter().cloned());
    assert_eq!(
        Value::from(events),
        expected_events,
        "the bedside heard every alarm"
    );
    // The alarms' records cannot reach the database: the service says so (degraded, still
    // ready: nothing is lost) once its writer has tried.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, ready) = app.get("/health/ready", None).await;
        if ready["status"] == "degraded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::task::block_in_place(|| server.resume());
    app.wait_until_audit_is_written().await;
    assert_eq!(audited_alarms(&app, &id).await, onsets);
}

/// A socket outliving its access token: the next message closes it with the reason, and
/// appends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_whose_token_expires_is_closed_saying_why() {
    let Some(python) = test_support::websockets_python() else {
        return;
    };
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let key = auth_tokens::SigningKey::from_pem(&app.issuer.key().to_pem()).unwrap();
    let short = auth_tokens::Issuer::new(key, "seizure-ops-auth", "seizure-ops", 2);
    let token = short.issue("ada", Role::Clinician).unwrap().0;
    let url = format!("{}/monitor", app.base.replace("http://", "ws://"));
    let script = test_support::workspace_root().join("tests/pipeline/clients/monitor_ws_expire.py");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(url)
            .arg(token)
            .arg("3")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["first"]["type"], "update", "{out}");
    assert_eq!(out["first"]["samples_seen"], 178);
    assert_eq!(
        out["after"],
        json!([]),
        "nothing answered after expiry: {out}"
    );
    assert_eq!(out["close_code"], 1000, "{out}");
    assert!(
        out["close_reason"]
            .as_str()
            .unwrap()
            .contains("the access token expired"),
        "{out}"
    );
    // Closed for good: the session is gone, counted as ended by its token.
    let metrics = app.metrics().await;
    assert!(metrics.contains("monitor_sessions 0\n"), "{metrics}");
    assert!(
        metrics.contains("monitor_sessions_closed_total{end=\"token\"} 1"),
        "{metrics}"
    );
}

/// `signal()` as a 256 Hz device would record it (linear interpolation: the test needs a
/// signal at that rate, not a faithful resampling, which `seizure-ops monitor`'s test checks
/// against scipy).
fn at_256_hz(samples: &[f64]) -> Vec<f64> {
    let n = (samples.len() as f64 * 256.0 / eeg_data::SAMPLING_HZ) as usize - 1;
    (0..n)
        .map(|i| {
            let t = i as f64 * eeg_data::SAMPLING_HZ / 256.0;
            let (j, f) = (t.floor() as usize, t.fract());
            samples[j] * (1.0 - f) + samples[(j + 1).min(samples.len() - 1)] * f
        })
        .collect()
}

#[tokio::test]
async fn a_session_at_256_hz_is_conditioned_on_the_server_and_counts_the_clients_samples() {
    let ws = shared_workspace();
    let app = App::for_workspace(ws).await;
    let token = app.token(Role::Clinician);
    let (status, info) = app
        .post(
            "/monitor/sessions",
            json!({"alarm_k": 1, "alarm_n": 1, "replay": true, "input_sampling_hz": 256,
                   "mains": "60"}),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["input_sampling_hz"], 256.0);
    assert_eq!(info["sampling_hz"], 173.61);
    assert_eq!(info["mains_notch_hz"], 60.0);
    assert_eq!(info["max_samples_per_second"], 256.0 * 16.0);
    let id = info["session_id"].as_str().unwrap().to_owned();

    let samples = at_256_hz(&signal());
    // Offline: the same conditioning and monitor in one go.
    let predictor = Arc::new(seizure_model::Predictor::load(&ws.path("production")).unwrap());
    let mut config = MonitorConfig::for_model(&predictor);
    config.rule.k = 1;
    config.rule.n = 1;
    let mut conditioner =
        bedside::conditioning::Conditioner::new(256.0, bedside::conditioning::Mains::Hz60).unwrap();
    let mut model_rate = Vec::new();
    conditioner.push(&samples, &mut model_rate);
    let mut monitor = Monitor::new(predictor, config).unwrap();
    let expected = monitor.push(&model_rate).unwrap();
    let expected_windows: Value =
        serde_json::from_str(&serde_json::to_string(&expected.windows).unwrap()).unwrap();

    let (mut windows, mut events) = (Vec::new(), Vec::new());
    let mut at = 0;
    for size in [1, 63, 64, 65, 1000, 256, 5000].into_iter().cycle() {
        let end = (at + size).min(samples.len());
        let (status, body) = loop {
            let (status, body) = app
                .post(
                    &format!("/monitor/sessions/{id}/samples"),
                    json!({"samples": &samples[at..end], "offset": at}),
                    Some(&token),
                )
                .await;
            // Paced at 16 x 256 samples a second: ahead of that clock, nothing was appended
            // and the same push (same offset) is sent again.
            if status != StatusCode::TOO_MANY_REQUESTS {
                break (status, body);
            }
            assert_eq!(body["error"], "ahead_of_the_clock", "{body}");
            tokio::time::sleep(Duration::from_millis(400)).await;
        };
        assert_eq!(status, StatusCode::OK, "{body}");
        // The client's samples, the client's offsets.
        assert_eq!(body["samples_seen"], end);
        windows.extend(body["windows"].as_array().unwrap().iter().cloned());
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        at = end;
        if at == samples.len() {
            break;
        }
    }
    assert_eq!(
        Value::from(windows),
        expected_windows,
        "any chunking, the same windows"
    );
    // The seizure raises its alarm at the time it does at the model's own rate (times are
    // seconds from the client's first sample), within one hop and the interpolation.
    let (_, at_model_rate, _) = offline(ws, &signal());
    let first_detection = |events: &[Value]| {
        events
            .iter()
            .find(|e| e["type"] == "seizure_onset")
            .map(|e| e["detected_s"].as_f64().unwrap())
    };
    let ours = first_detection(&events).expect("an alarm at 256 Hz");
    let theirs = first_detection(at_model_rate.as_array().unwrap()).unwrap();
    assert!(
        (ours - theirs).abs() <= 87.0 / 173.61 + 0.01,
        "{ours} vs {theirs}"
    );
    // A retry of the last push (same offset) is refused whole.
    let (status, body) = app
        .post(
            &format!("/monitor/sessions/{id}/samples"),
            json!({"samples": [1.0, 2.0], "offset": 10}),
            Some(&token),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "nothing was appended");
    assert_eq!(body["error"], "offset_mismatch");
    // A bad sample is named by the client's index; nothing appended.
    let (status, body) = push(&app, &token, &id, &[1.0, 2.0, 1e9]).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sample 2");
    let (_, status_body) = app
        .get(&format!("/monitor/sessions/{id}"), Some(&token))
        .await;
    assert_eq!(status_body["samples_seen"], samples.len());

    // Rates and mains the server cannot take, each a 422 naming the field.
    for body in [
        json!({"input_sampling_hz": 50}),
        json!({"input_sampling_hz": 1e9}),
        json!({"input_sampling_hz": -256}),
        json!({"input_sampling_hz": 0}),
        json!({"input_sampling_hz": "fast"}),
        json!({"input_sampling_hz": 256, "mains": "55"}),
        json!({"input_sampling_hz": 256, "mains": 55}),
        json!({"input_sampling_hz": 256, "mains": null, "hop": "x"}),
        json!({"mains": "60"}),
        json!({"sampling_hz": 256}),
    ] {
        let (status, answer) = app
            .post("/monitor/sessions", body.clone(), Some(&token))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            ["input_sampling_hz", "mains", "sampling_hz", "hop"]
                .iter()
                .any(|f| message.contains(f)),
            "{body}: {answer}"
        );
    }
    // The model's own rate, said explicitly, is taken as it comes.
    let (status, info) = app
        .post(
            "/monitor/sessions",
            json!({"input_sampling_hz": 173.61}),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["input_sampling_hz"], 173.61);
    assert_eq!(info["mains_notch_hz"], Value::Null);
}

#[tokio::test]
async fn alarms_are_records_until_acknowledged_once_with_who_and_when_in_sqlite() {
    alarms_are_records_until_acknowledged_once_with_who_and_when(None).await;
}

#[tokio::test]
async fn alarms_are_records_until_acknowledged_once_with_who_and_when_in_postgres() {
    let Some(server) = test_support::postgres_server() else {
        return;
    };
    let database = test_support::fresh_postgres_database(&server, "inference_alarms").await;
    alarms_are_records_until_acknowledged_once_with_who_and_when(Some(database)).await;
}

async fn alarms_are_records_until_acknowledged_once_with_who_and_when(database: Option<String>) {
    let ws = shared_workspace();
    let app = App::spawn(&ws.path("production"), &ws.path("patients/store"), database).await;
    let token = app.token(Role::Clinician); // "ada"
    let samples = signal();
    let (_, _, onsets) = offline(ws, &samples);
    // Two streams, of patients 42 and 43.
    let mut sessions = Vec::new();
    for patient in [42, 43] {
        let id = open(
            &app,
            &token,
            json!({"alarm_k": 1, "alarm_n": 1, "patient_id": patient}),
        )
        .await;
        let (status, body) = push(&app, &token, &id, &samples).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The alarms stay open after the session ends.
        assert_eq!(delete(&app, &token, &id).await.0, StatusCode::OK);
        sessions.push((patient, id));
    }

    // Each onset is an open alarm of ada's, naming the patient and session, newest first.
    let (status, list) = app.get("/alarms", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["count"], 2 * onsets, "{list}");
    let alarms = list["alarms"].as_array().unwrap().clone();
    assert!(alarms
        .iter()
        .all(|a| a["raised_for"] == "ada" && a["replay"] == false));
    for (patient, session) in &sessions {
        let theirs = alarms
            .iter()
            .filter(|a| a["patient_id"] == *patient && a["session_id"] == session.as_str())
            .count();
        assert_eq!(theirs, onsets, "patient {patient}: {list}");
    }
    let times: Vec<&str> = alarms
        .iter()
        .map(|a| a["raised_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // Another clinician neither sees nor acknowledges them; an admin sees them all.
    let other = app.issuer.issue("grace", Role::Clinician).unwrap().0;
    let (_, theirs) = app.get("/alarms", Some(&other)).await;
    assert_eq!(theirs["count"], 0, "{theirs}");
    let first = alarms[0]["alarm_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/alarms/{first}/acknowledge"),
            json!({}),
            Some(&other),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not one of yours");
    let admin = app.issuer.issue("root", Role::Admin).unwrap().0;
    let (_, all) = app.get("/alarms", Some(&admin)).await;
    assert!(all["count"].as_u64().unwrap() >= onsets as u64, "{all}");

    // Hostile ids: not hex, too long, a record that is not an alarm, no such record.
    let (_, page) = app.get("/logs?limit=500", Some(&admin)).await;
    let not_an_alarm = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] != "monitor_alarm" && r["kind"] != "monitor_replay_alarm")
        .map(|r| r["id"].as_str().unwrap().to_owned());
    let mut hostile = vec![
        ("xyz".to_owned(), StatusCode::BAD_REQUEST),
        ("a".repeat(65), StatusCode::BAD_REQUEST),
        ("%27%20OR%201%3D1".to_owned(), StatusCode::BAD_REQUEST),
        ("0".repeat(32), StatusCode::NOT_FOUND),
    ];
    hostile.extend(not_an_alarm.map(|id| (id, StatusCode::NOT_FOUND)));
    for (bad, expected) in hostile {
        let (status, body) = app
            .post(
                &format!("/alarms/{bad}/acknowledge"),
                json!({}),
                Some(&token),
            )
            .await;
        assert_eq!(status, expected, "{bad}: {body}");
        assert!(body["message"].is_string(), "{bad}: {body}");
    }

    // The same acknowledgement 50 times at once: one is recorded, 49 are told by whom.
    let acks: Vec<_> = (0..50)
        .map(|_| {
            let (app, token, first) = (app.clone(), token.clone(), first.clone());
            tokio::spawn(async move {
                app.post(
                    &format!("/alarms/{first}/acknowledge"),
                    json!({}),
                    Some(&token),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for ack in acks {
        answers.push(ack.await.unwrap());
    }
    let accepted: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    assert_eq!(accepted[0]["acknowledged_by"], "ada");
    assert_eq!(accepted[0]["alarm"]["alarm_id"], first.as_str());
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_error(
            *status,
            body,
            StatusCode::CONFLICT,
            "was acknowledged by ada at",
        );
    }
    let (_, list) = app.get("/alarms", Some(&token)).await;
    // Shown with who acknowledged it and when.
    let done = &list["recently_acknowledged"];
    assert_eq!(done.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(done[0]["alarm"]["alarm_id"], first.as_str());
    assert_eq!(done[0]["acknowledged_by"], "ada");
    assert!(done[0]["acknowledged_at"].is_string());
    let (_, theirs) = app.get("/alarms", Some(&other)).await;
    assert_eq!(
        theirs["recently_acknowledged"],
        json!([]),
        "not grace's alarm"
    );
    assert_eq!(
        list["count"],
        2 * onsets - 1,
        "the acknowledged alarm left the list"
    );

    // In the audit log for admins: who acknowledged which alarm, when, for which patient.
    let (_, page) = app.get("/logs?limit=500", Some(&admin)).await;
    let acks: Vec<&Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "alarm_acknowledged")
        .collect();
    assert_eq!(acks.len(), 1, "{page}");
    assert_eq!(acks[0]["acknowledges"], first.as_str());
    assert_eq!(acks[0]["username"], "ada");
    assert_eq!(acks[0]["patient_id"], alarms[0]["patient_id"]);
    assert_eq!(acks[0]["session_id"], alarms[0]["session_id"]);
    // An admin may acknowledge another user's alarm.
    let second = alarms.get(1).expect("two streams, an alarm each at least")["alarm_id"]
        .as_str()
        .unwrap();
    let (status, body) = app
        .post(
            &format!("/alarms/{second}/acknowledge"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["acknowledged_by"], "root");
    assert_eq!(body["alarm"]["raised_for"], "ada");
}

#[tokio::test]
async fn resampling_sessions_are_capped_and_plain_ones_still_open() {
    let ws = shared_workspace();
    let app = App::for_workspace_with(ws, |args| {
        args.monitor.max_resampled_sessions = 2;
        args.monitor.max_resampled_sessions_per_user = 1;
    })
    .await;
    // One user's share first: a second resampling session of ada's is 429.
    let token = app.token(Role::Clinician);
    open(&app, &token, json!({"input_sampling_hz": 256})).await;
    let (status, body) = app
        .post(
            "/monitor/sessions",
            json!({"input_sampling_hz": 200}),
            Some(&token),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "you have 1 monitoring sessions at another rate",
    );
    // Then everyone's: grace takes the second, and a third user gets 503.
    let grace = app.issuer.issue("grace", Role::Clinician).unwrap().0;
    open(&app, &grace, json!({"input_sampling_hz": 256})).await;
    let lin = app.issuer.issue("lin", Role::Clinician).unwrap().0;
    let (status, body) = app
        .post(
            "/monitor/sessions",
            json!({"input_sampling_hz": 512}),
            Some(&lin),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "2 monitoring sessions at another rate",
    );
    // At the model's rate (said or not), sessions hold no resampler and still open.
    open(&app, &lin, json!({})).await;
    open(&app, &lin, json!({"input_sampling_hz": 173.61})).await;
}
