//! The /docs page as a browser shows it: headless Chromium on a network without internet
//! (every host but 127.0.0.1 unresolvable) must render every endpoint from assets the
//! service serves itself, under its content security policy, with nothing refused.

mod common;

use auth_tokens::{SigningAlgorithm, SigningKey};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_every_endpoint_offline() {
    let Some(chromium) = test_support::chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, key.to_pem()).unwrap();
    let args = common::args(
        dir.path().join("auth.db").display().to_string(),
        Some(key_file),
    );
    let state = auth::build_state(&args.settings().unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/docs/", listener.local_addr().unwrap());
    tokio::spawn(auth::serve(listener, state, std::future::pending()));
    let (dom, log) =
        tokio::task::spawn_blocking(move || test_support::render_page(&chromium, &url))
            .await
            .unwrap();
    for path in [
        "/login",
        "/token",
        "/refresh",
        "/users/{username}",
        "/.well-known/jwks.json",
    ] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "{path} is not rendered; DOM:\n{}\nbrowser log:\n{log}",
            &dom[..dom.len().min(3000)]
        );
    }
    assert!(dom.contains("seizure-ops auth"), "the title is rendered");
    assert!(
        !log.contains("Content Security Policy") && !log.contains("ERR_NAME_NOT_RESOLVED"),
        "the page needed something it may not have:\n{log}"
    );
}
