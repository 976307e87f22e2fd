//! Memory across model reloads, alone in its process so the resident set is the service's.

use pipeline_tests::serving::{patient_ids, App};
use pipeline_tests::Workspace;
use reqwest::StatusCode;
use serde_json::json;

use auth_tokens::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_does_not_grow_across_100_reloads() {
    let ws = tokio::task::spawn_blocking(|| Workspace::promoted(1))
        .await
        .unwrap();
    let app = App::for_workspace(&ws).await;
    let admin = app.token(Role::Admin);
    let clinician = app.token(Role::Clinician);
    let patient = format!("/predict/{}", patient_ids(&ws)[0]);
    let reload_and_predict = || async {
        let (status, body) = app.post("/reload-model", json!({}), Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = app.get(&patient, Some(&clinician)).await;
        assert_eq!(status, StatusCode::OK);
    };
    // Warm up allocator arenas and caches first.
    for _ in 0..20 {
        reload_and_predict().await;
    }
    let before = test_support::resident_kib();
    for _ in 0..100 {
        reload_and_predict().await;
    }
    let after = test_support::resident_kib();
    eprintln!("RSS across 100 reloads: {before} KiB -> {after} KiB");
    assert!(
        after <= before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 100 reloads"
    );
}
