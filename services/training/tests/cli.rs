//! The training binary's refusals: clear one-line errors, nothing written.

const BIN: &str = env!("CARGO_BIN_EXE_training");

fn training(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    test_support::run_binary(BIN, dir, args)
}

#[test]
fn missing_dataset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = training(dir.path(), &["--data", "nowhere"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: cannot open the processed dataset nowhere: nowhere/manifest.json: No such file or directory (os error 2)"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn invalid_hyperparameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = training(dir.path(), &["--epochs", "0"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: --epochs and --batch-size must be at least 1"
    );
    let (_, stderr) = training(dir.path(), &["--learning-rate=-1"]);
    assert_eq!(stderr, "error: --learning-rate must be a positive number");
}
