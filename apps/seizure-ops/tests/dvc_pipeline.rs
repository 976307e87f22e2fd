//! The repository's dvc.yaml and params.yaml under the real `dvc` CLI: `dvc repro` runs every
//! stage, re-running skips them all, a changed parameter re-runs only what depends on it, and
//! `dvc dag` shows the graph.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use test_support::{run_ok, workspace_root};

const BIN: &str = env!("CARGO_BIN_EXE_seizure-ops");

fn dvc(dir: &Path, args: &[&str]) -> String {
    let dvc = test_support::dvc().expect("checked by the caller");
    let output: Output = run_ok(
        Command::new(dvc)
            .current_dir(dir)
            .args(args)
            .env("SEIZURE_OPS_BIN", BIN)
            .env("DVC_NO_ANALYTICS", "1")
            .env("RUST_LOG", "warn")
            .env_remove("MLFLOW_TRACKING_URI"),
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A project directory with the repository's pipeline files and parameters, `edit`ed.
fn project(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace_root();
    std::fs::copy(root.join("dvc.yaml"), dir.path().join("dvc.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::copy(root.join("scripts/stage"), dir.path().join("scripts/stage")).unwrap();
    let params = std::fs::read_to_string(root.join("params.yaml")).unwrap();
    std::fs::write(dir.path().join("params.yaml"), edit(params)).unwrap();
    dir
}

#[test]
fn dvc_repro_runs_the_pipeline_and_skips_unchanged_stages() {
    if test_support::dvc().is_none() {
        test_support::skip("the dvc CLI is not installed");
        return;
    }
    // One epoch on synthetic data: a plumbing fixture, so the sensitivity floor is lowered
    // (see common::TINY_MODEL_MIN_SENSITIVITY).
    let epochs = |n: usize| {
        move |p: String| {
            p.replace("epochs: 60", &format!("epochs: {n}")).replace(
                "min_sensitivity: 0.90",
                &format!("min_sensitivity: {}", common::TINY_MODEL_MIN_SENSITIVITY),
            )
        }
    };
    let project = project(epochs(1));
    let dir = project.path();
    let raw = "raw/epileptic_seizure_recognition.csv";
    assert!(std::fs::read_to_string(dir.join("params.yaml"))
        .unwrap()
        .contains(raw));
    run_ok(Command::new(BIN).current_dir(dir).args([
        "preprocessing",
        "synth",
        "--out",
        raw,
        "--segments-per-class",
        "10",
    ]));
    dvc(dir, &["init", "--no-scm", "-q"]);

    let first = dvc(dir, &["repro"]);
    for stage in ["preprocess", "train", "evaluate", "patients"] {
        assert!(
            first.contains(&format!("Running stage '{stage}'")),
            "{first}"
        );
    }
    for output in [
        "data/manifest.json",
        "models/model.json",
        "production/release.json",
        "reports/metrics.json",
        "patients/store/index.json",
        "dvc.lock",
    ] {
        assert!(dir.join(output).is_file(), "{output} missing");
    }
    assert!(
        !dir.join("data.dvc").exists(),
        "dvc.lock records the outputs"
    );

    let again = dvc(dir, &["repro"]);
    for stage in ["preprocess", "train", "evaluate", "patients"] {
        assert!(
            again.contains(&format!("Stage '{stage}' didn't change, skipping")),
            "{again}"
        );
    }
    assert!(dvc(dir, &["status"]).contains("up to date"));

    let params = std::fs::read_to_string(dir.join("params.yaml")).unwrap();
    std::fs::write(
        dir.join("params.yaml"),
        params.replace("epochs: 1", "epochs: 2"),
    )
    .unwrap();
    let changed = dvc(dir, &["repro"]);
    for skipped in ["preprocess", "patients"] {
        assert!(
            changed.contains(&format!("Stage '{skipped}' didn't change, skipping")),
            "{changed}"
        );
    }
    for rerun in ["train", "evaluate"] {
        assert!(
            changed.contains(&format!("Running stage '{rerun}'")),
            "{changed}"
        );
    }
    assert!(
        dir.join("production/release.json").is_file(),
        "production persists"
    );

    let dag = dvc(dir, &["dag", "--dot"]);
    for edge in [
        "\"preprocess\" -> \"train\"",
        "\"preprocess\" -> \"patients\"",
        "\"train\" -> \"evaluate\"",
    ] {
        assert!(dag.contains(edge), "{edge} missing from:\n{dag}");
    }
    let metrics = dvc(dir, &["metrics", "show", "--json"]);
    assert!(metrics.contains("roc_auc"), "{metrics}");
}
