//! A login storm in its own test binary, so the process's memory is the service's alone:
//! 500 concurrent wrong logins (distinct usernames, so throttling lets every one through to
//! the password check) must not make argon2 run 500 times at once. Before the bound, 80
//! concurrent ones took the service from 38 MiB to 1.5 GiB.

mod common;

use auth_tokens::{SigningAlgorithm, SigningKey};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_wrong_logins_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, key.to_pem()).unwrap();
    let mut args = common::args(
        dir.path().join("auth.db").display().to_string(),
        Some(key_file),
    );
    // One client address sends all 500: let the per-address cap not stop them first.
    args.max_failures_per_address = 1000;
    let state = auth::build_state(&args.settings().unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(auth::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();
    // Warm up: one real check, so the allocator's steady state is in the baseline.
    let _ = client
        .post(format!("{base}/login"))
        .json(&serde_json::json!({"username": "warm", "password": "up up up up up"}))
        .send()
        .await
        .unwrap();
    let before = test_support::resident_kib();
    let storm: Vec<_> = (0..500)
        .map(|i| {
            let client = client.clone();
            let url = format!("{base}/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&serde_json::json!({"username": format!("user{i}"), "password": "wrong password"}))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let mut checked = 0;
    let mut shed = 0;
    for attempt in storm {
        match attempt.await.unwrap().unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::SERVICE_UNAVAILABLE => shed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    let after = test_support::resident_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    println!("500 wrong logins: {checked} checked, {shed} shed (503); RSS {before} -> {after} KiB");
    assert_eq!(checked + shed, 500);
    assert!(checked >= 2, "some were checked");
    assert!(
        grown_mib < 100,
        "the storm grew the process by {grown_mib} MiB ({before} -> {after} KiB)"
    );
    assert!(
        after / 1024 < 128,
        "service and 500-connection client together: {after} KiB, over 128 MiB"
    );
}
