//! The committed `dvc.lock` is the reference run of the real-data pipeline with the default
//! parameters (`dvc repro` at the repository root; see docs/data-pipeline.md). On the real
//! CSV this test re-runs the stages as separate processes and checks what reproduces:
//!
//! * the raw CSV is the one the lock records (its md5);
//! * preprocessing reproduces the recorded `data` output byte for byte (its DVC `.dir` hash);
//! * training is bit-reproducible: two processes with the same data, seed and gradient shards
//!   write weights with the same md5, one on one thread and one on two (the threads only
//!   decide where each shard runs; the shards' gradients are summed in a fixed order). The `models` directory as a whole is not: its card
//!   records when and in which tracked run the model was trained (`created_at`, `run_id`),
//!   so `models` and `production` hash differently on every run, by design; `dvc pull`
//!   restores the reference run's exact files.

mod common;

use std::path::Path;

use artifact_store::dvc::{file_md5, hash_dir};
use test_support::{run_ok, workspace_root};

/// One recorded dependency or output of a stage in `dvc.lock`.
#[derive(Debug)]
struct Recorded {
    stage: String,
    kind: String,
    path: String,
    md5: String,
}

/// The lock file's shape as far as this test reads it (DVC 3: `stages: <name>: deps|outs:
/// - path: ..., md5: ...`).
#[derive(serde::Deserialize)]
struct Lock {
    stages: std::collections::BTreeMap<String, LockStage>,
}

#[derive(serde::Deserialize)]
struct LockStage {
    #[serde(default)]
    deps: Vec<LockEntry>,
    #[serde(default)]
    outs: Vec<LockEntry>,
}

#[derive(serde::Deserialize)]
struct LockEntry {
    path: String,
    md5: String,
}

/// The `deps` and `outs` entries of every stage.
fn read_lock(text: &str) -> Vec<Recorded> {
    let lock: Lock = serde_yaml_ng::from_str(text).expect("dvc.lock is YAML in DVC 3's format");
    let mut entries = Vec::new();
    for (stage, recorded) in lock.stages {
        for (kind, list) in [("deps", recorded.deps), ("outs", recorded.outs)] {
            entries.extend(list.into_iter().map(|entry| Recorded {
                stage: stage.clone(),
                kind: kind.to_owned(),
                path: entry.path,
                md5: entry.md5,
            }));
        }
    }
    entries
}

fn recorded<'a>(lock: &'a [Recorded], stage: &str, kind: &str, path: &str) -> &'a str {
    &lock
        .iter()
        .find(|r| r.stage == stage && r.kind == kind && r.path == path)
        .unwrap_or_else(|| panic!("dvc.lock records no {kind} {path} of stage {stage}"))
        .md5
}

fn stage(dir: &Path, args: &[&str]) {
    run_ok(common::seizure_ops(dir).args(args));
}

#[test]
fn the_reference_data_reproduces_byte_for_byte_and_training_bit_for_bit() {
    let Some(csv) = test_support::require_real_data() else {
        return;
    };
    let lock = read_lock(&std::fs::read_to_string(workspace_root().join("dvc.lock")).unwrap());
    let csv_md5 = file_md5(&csv).unwrap();
    assert_eq!(
        recorded(
            &lock,
            "preprocess",
            "deps",
            "raw/epileptic_seizure_recognition.csv"
        ),
        csv_md5,
        "the lock was made from another CSV"
    );
    let csv = csv.display().to_string();

    let runs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // The default two gradient shards, on one thread in the first process and two in the
    // second: the threads only decide where each shard runs.
    for (run, threads) in runs.iter().zip(["1", "2"]) {
        let dir = run.path();
        // The defaults are params.yaml's: seed 42, 22 x 8, undersampling.
        stage(dir, &["preprocessing", "run", "--no-dvc", "--input", &csv]);
        assert_eq!(
            hash_dir(&dir.join("data")).unwrap().md5,
            recorded(&lock, "preprocess", "outs", "data"),
            "preprocessing no longer reproduces the reference data"
        );
        // Two epochs: enough to show the weights are a function of data, seed and threads.
        stage(
            dir,
            &[
                "training",
                "--no-dvc",
                "--epochs",
                "2",
                "--patience",
                "2",
                "--threads",
                threads,
            ],
        );
    }
    let weights = |dir: &Path| seizure_model::artifact::read_card(&dir.join("models")).unwrap();
    let (first, second) = (weights(runs[0].path()), weights(runs[1].path()));
    assert_eq!(
        first.weights_md5, second.weights_md5,
        "two training processes on the same data, seed and shards (one thread, two) wrote \
         different weights"
    );
    assert_ne!(
        (first.created_at, first.run_id),
        (second.created_at, second.run_id),
        "each run keeps its own provenance in the card"
    );
}

#[test]
fn the_lock_reader_finds_deps_and_outs() {
    let lock = read_lock(
        "schema: '2.0'\nstages:\n  preprocess:\n    cmd: x\n    deps:\n    - path: raw/a.csv\n      \
         hash: md5\n      md5: 0123abcd\n      size: 1\n    outs:\n    - path: data\n      hash: md5\n      \
         md5: abcd.dir\n      size: 2\n      nfiles: 3\n  train:\n    outs:\n    - path: models\n      \
         md5: ef01.dir\n",
    );
    assert_eq!(
        recorded(&lock, "preprocess", "deps", "raw/a.csv"),
        "0123abcd"
    );
    assert_eq!(recorded(&lock, "preprocess", "outs", "data"), "abcd.dir");
    assert_eq!(recorded(&lock, "train", "outs", "models"), "ef01.dir");
    // And the committed lock itself.
    let committed = read_lock(&std::fs::read_to_string(workspace_root().join("dvc.lock")).unwrap());
    assert!(recorded(&committed, "preprocess", "outs", "data").ends_with(".dir"));
    assert_eq!(
        recorded(
            &committed,
            "preprocess",
            "deps",
            "raw/epileptic_seizure_recognition.csv"
        )
        .len(),
        32
    );
}
