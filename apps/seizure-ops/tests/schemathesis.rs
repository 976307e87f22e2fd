//! Both APIs against their own OpenAPI documents, with schemathesis: generated requests
//! (valid and invalid, with a real admin token) must never get a 5xx, and every response
//! must match what the document says (status code, content type, body schema, headers).
//! The services run for real (`seizure-ops up` on synthetic data, a trained model).

mod common;

use std::process::Command;

use common::{login, Running};

/// Runs schemathesis against `base`; returns its output, or panics with it.
fn fuzz(st: &std::path::Path, base: &str, token: &str, examples: &str) -> String {
    // schemathesis keeps a cache in its working directory: not in the source tree.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(st)
        .current_dir(scratch.path())
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--url", base])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
        ])
        .args(["--max-examples", examples])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "1"])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures at {base}:\n{text}"
    );
    text
}

#[test]
fn both_apis_answer_every_generated_request_as_documented() {
    let Some(st) = test_support::schemathesis() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let running = Running::quick_up(home.path());
    let http = reqwest::blocking::Client::new();
    let auth = running.url("auth");
    let inference = running.url("inference");
    let token = login(&http, &auth, &running.generated_password());
    let inference_report = fuzz(&st, &inference, &token, "40");
    // Last: the auth run may delete users or revoke the admin's session.
    let auth_report = fuzz(&st, &auth, &token, "40");
    for report in [&inference_report, &auth_report] {
        let summary = report
            .lines()
            .filter(|l| l.contains("passed") || l.contains("test cases"))
            .collect::<Vec<_>>()
            .join("\n");
        println!("{summary}");
    }
    running.interrupt();
}
