//! The evaluate binary's refusals: clear one-line errors, nothing promoted.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_evaluate");

fn evaluate(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[test]
fn missing_candidate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = evaluate(dir.path(), &["run", "--candidate", "nothing"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: cannot load the candidate model nothing: nothing/model.json: No such file or directory (os error 2)"
    );
    assert!(!dir.path().join("production").exists());
}

#[test]
fn rollback_without_production_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = evaluate(dir.path(), &["rollback"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr, "error: there is no production model to roll back");
}

#[test]
fn out_of_range_threshold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = evaluate(dir.path(), &["run", "--threshold", "1.5"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr, "error: --threshold must be between 0 and 1");
}
