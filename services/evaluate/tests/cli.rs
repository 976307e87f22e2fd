//! The evaluate binary's refusals: clear one-line errors, nothing promoted.

const BIN: &str = env!("CARGO_BIN_EXE_evaluate");

fn evaluate(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    test_support::run_binary(BIN, dir, args)
}

#[test]
fn missing_candidate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = evaluate(dir.path(), &["run", "--candidate", "nothing"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: cannot load the candidate model nothing: failed to open file `nothing/model.json`: \
         No such file or directory (os error 2)"
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
