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

    // A second start keeps the admin (no new password) and the signing key.
    let again = Running::start(seizure_ops(home.path()).arg("serve").args(ANY_PORTS));
    assert!(!again.banner.contains("with password"), "{}", again.banner);
    assert!(again.banner.contains("YOUR-ADMIN-PASSWORD"));
    login(&http, &again.url("auth"), &password);
    again.interrupt();
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
