//! Our pointers and cache, read by the real `dvc` CLI: `dvc status` sees nothing changed, and
//! `dvc checkout` restores a deleted output byte for byte.

use std::fs;
use std::path::Path;
use std::process::Command;

use artifact_store::dvc::hash_dir;
use test_support::run_ok;

const BIN: &str = env!("CARGO_BIN_EXE_preprocessing");

fn dvc(dir: &Path, dvc_bin: &Path, args: &[&str]) -> std::process::Output {
    Command::new(dvc_bin)
        .current_dir(dir)
        .args(args)
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .expect("dvc runs")
}

fn check_with_real_dvc(dir: &Path, dvc_bin: &Path) {
    run_ok(Command::new(BIN).current_dir(dir).args([
        "synth",
        "--out",
        "raw/eeg.csv",
        "--segments-per-class",
        "3",
    ]));
    run_ok(
        Command::new(BIN)
            .current_dir(dir)
            .args(["run", "--input", "raw/eeg.csv"]),
    );
    let written = hash_dir(&dir.join("data")).unwrap();

    let status = dvc(dir, dvc_bin, &["status", "-q"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "dvc status reports a change:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );

    fs::remove_dir_all(dir.join("data")).unwrap();
    let status = dvc(dir, dvc_bin, &["status", "-q"]);
    assert_eq!(
        status.status.code(),
        Some(1),
        "dvc status must see the deletion"
    );
    run_ok(Command::new(dvc_bin).current_dir(dir).arg("checkout"));
    assert_eq!(
        hash_dir(&dir.join("data")).unwrap(),
        written,
        "restored byte for byte"
    );
    assert_eq!(dvc(dir, dvc_bin, &["status", "-q"]).status.code(), Some(0));
}

#[test]
fn real_dvc_reads_our_outputs_in_a_git_repository() {
    let Some(dvc_bin) = test_support::dvc() else {
        test_support::skip("the dvc CLI is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("git")
            .current_dir(dir.path())
            .args(["init", "-q"]),
    );
    run_ok(
        Command::new(&dvc_bin)
            .current_dir(dir.path())
            .args(["init", "-q"]),
    );
    check_with_real_dvc(dir.path(), &dvc_bin);
    let gitignore = fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == "/data"), "{gitignore}");
}

#[test]
fn real_dvc_reads_a_repository_we_initialised() {
    let Some(dvc_bin) = test_support::dvc() else {
        test_support::skip("the dvc CLI is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    check_with_real_dvc(dir.path(), &dvc_bin);
}
