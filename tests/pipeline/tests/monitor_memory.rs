//! The memory budget's figures per item (`inference::footprint`), measured alone in this
//! process so that the resident set is the service's: 1,000 open sessions over HTTP, then
//! 100 held sockets (`websockets` from PyPI), each within its figure.

use auth_tokens::Role;
use pipeline_tests::serving::App;
use pipeline_tests::sockets::{socket_url, Holder};
use pipeline_tests::Workspace;
use reqwest::StatusCode;
use serde_json::json;

/// The figures per item of the memory budget (`inference::footprint`) hold: 1,000 open
/// sessions over HTTP, then 100 held sockets, each within its figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sessions_and_sockets_stay_within_the_memory_budgets_figures() {
    let Some(python) = test_support::websockets_python() else {
        return;
    };
    let ws = tokio::task::spawn_blocking(|| Workspace::promoted(1))
        .await
        .unwrap();
    let app = App::for_workspace_with(&ws, |args| {
        args.monitor.max_monitor_sessions_per_user = 2_000;
        args.monitor.max_monitor_sockets_per_user = 128;
        args.monitor.max_session_opens_per_minute = 10_000;
        args.monitor.max_resampled_sessions_per_user = 256;
    })
    .await;
    let token = app.token(Role::Clinician);
    // Warm-up: a few of each.
    for _ in 0..20 {
        let (status, _) = app.post("/monitor/sessions", json!({}), Some(&token)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let before = test_support::resident_kib();
    for _ in 0..1_000 {
        let (status, _) = app.post("/monitor/sessions", json!({}), Some(&token)).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let per_session = (test_support::resident_kib().saturating_sub(before)) * 1024 / 1_000;
    // Sessions at another rate each hold a resampler.
    let before = test_support::resident_kib();
    for _ in 0..200 {
        let (status, body) = app
            .post(
                "/monitor/sessions",
                json!({"input_sampling_hz": 256}),
                Some(&token),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let per_resampled = (test_support::resident_kib().saturating_sub(before)) * 1024 / 200;
    eprintln!("per session at 256 Hz {per_resampled} B");
    assert!(
        per_resampled
            <= inference::footprint::SESSION_BYTES + bedside::conditioning::CONDITIONER_BYTES,
        "{per_resampled} B a resampling session"
    );
    let spec = json!({"mode": "hold", "url": socket_url(&app), "token": token, "count": 100});
    let before = test_support::resident_kib();
    let held = tokio::task::spawn_blocking(move || Holder::open(&python, spec))
        .await
        .unwrap();
    assert_eq!(held.report, json!({"opened": 100, "refused": {}}));
    let per_socket = (test_support::resident_kib().saturating_sub(before)) * 1024 / 100;
    eprintln!("per session {per_session} B, per socket (with its session) {per_socket} B");
    assert!(
        per_session <= inference::footprint::SESSION_BYTES,
        "{per_session} B a session"
    );
    assert!(
        per_socket <= inference::footprint::SOCKET_BYTES + inference::footprint::SESSION_BYTES,
        "{per_socket} B a socket"
    );
    tokio::task::spawn_blocking(move || held.release())
        .await
        .unwrap();
}
