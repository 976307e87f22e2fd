//! `seizure-ops cv`: every segment is tested in exactly one fold, each fold is a training run
//! tracked under one parent run, and the summary is the mean and sd of the folds' figures.
//! The folds run apart (one process each, as the Kubernetes Indexed Job's pods) and gathered
//! through the tracker give the same report. (With an MLflow server and the raw data fetched
//! from an S3 DVC remote: tests/s3_stages.rs.)

mod common;

use std::collections::BTreeSet;

use common::seizure_ops;
use eeg_data::processed::{ProcessedDataset, Split};

fn read_report(home: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(home.join("cv/cv.json")).unwrap()).unwrap()
}

fn run_record(home: &std::path::Path, run: &str) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(home.join(format!("tracking/runs/{run}/run.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn three_fold_cross_validation_tests_every_segment_once() {
    let home = tempfile::tempdir().unwrap();
    let output = test_support::run_ok(
        seizure_ops(home.path())
            .args(["cv", "--folds", "3"])
            .args(common::QUICK),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3-fold cross-validation"), "{stdout}");
    assert!(stdout.contains("roc_auc"), "{stdout}");

    let report = read_report(home.path());
    assert_eq!(report["folds"], 3);
    let roc = report["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "roc_auc")
        .unwrap();
    let per_fold: Vec<f64> = roc["per_fold"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(per_fold.len(), 3);
    let mean = per_fold.iter().sum::<f64>() / 3.0;
    assert!((roc["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{roc}");
    // The sample standard deviation (n - 1) of the folds' values, recomputed here.
    let sd = (per_fold.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((roc["sd"].as_f64().unwrap() - sd).abs() < 1e-9, "{roc}");
    for fold in report["fold_results"].as_array().unwrap() {
        assert!(
            fold["evaluation"]["intervals"]["roc_auc"]["low"].is_number(),
            "{fold}"
        );
        // The candidate beside it: the fold's 5 out-of-fold models averaged, scored on the
        // same test split (its probabilities, so its calibration, differ from the served one's).
        let ensemble = &fold["ensemble"];
        assert_eq!(ensemble["models"], 5, "{fold}");
        assert!(ensemble["ensemble_seconds"].as_f64().unwrap() > 0.0);
        // At the served model's decisions, as its documentation promises.
        assert_eq!(
            ensemble["evaluation"]["patient_call"],
            fold["evaluation"]["patient_call"]
        );
        assert_ne!(
            ensemble["evaluation"]["calibration"]["brier"],
            fold["evaluation"]["calibration"]["brier"]
        );
    }
    let metrics: Vec<&str> = report["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"].as_str().unwrap())
        .collect();
    assert!(
        metrics.contains(&"ensemble_patient_accuracy"),
        "{metrics:?}"
    );

    // Every segment is in exactly one fold's test split; no fold trains on its test segments.
    let mut tested = Vec::new();
    let mut all = BTreeSet::new();
    for k in 1..=3 {
        let data = ProcessedDataset::open(&home.path().join(format!("cv/fold-{k}/data"))).unwrap();
        let names = &data.manifest.segments;
        all.extend(names.iter().cloned());
        let segments = |split| -> BTreeSet<String> {
            data.split(split)
                .unwrap()
                .segment
                .iter()
                .map(|&s| names[s as usize].clone())
                .collect()
        };
        let test = segments(Split::Test);
        assert!(test.is_disjoint(&segments(Split::Train)));
        assert!(test.is_disjoint(&segments(Split::Validation)));
        assert_eq!(data.manifest.fold.unwrap().index, k - 1);
        tested.extend(test);
    }
    tested.sort();
    let before = tested.len();
    tested.dedup();
    assert_eq!(before, tested.len(), "a segment was tested twice");
    assert_eq!(tested.len(), all.len(), "a segment was never tested");

    // Each fold's training run is a child of the parent run.
    let parent = report["parent_run_id"].as_str().unwrap();
    for fold in report["fold_results"].as_array().unwrap() {
        let record = run_record(home.path(), fold["run_id"].as_str().unwrap());
        assert_eq!(record["tags"]["mlflow.parentRunId"], parent, "{record}");
    }

    // The same folds run apart, one process each, then gathered through the tracker: the same
    // figures, fold by fold (a fold's figures depend on its data and seed, not on its threads).
    let apart = tempfile::tempdir().unwrap();
    let member = |fold: &str| {
        test_support::run_ok(
            seizure_ops(apart.path())
                .args(["cv", "--folds", "3", "--group", "job-1", "--fold", fold])
                .args(common::QUICK),
        )
    };
    let gather = |wait: &str| {
        seizure_ops(apart.path())
            .args(["cv", "--folds", "3", "--group", "job-1", "--gather"])
            .args(["--wait-seconds", wait])
            .output()
            .unwrap()
    };
    member("0");
    member("2");
    let early = gather("0");
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success());
    assert!(
        stderr.contains("fold(s) [2] of 3 are not finished"),
        "{stderr}"
    );
    assert!(!apart.path().join("cv/cv.json").exists());
    member("1");
    let gathered = gather("0");
    assert!(gathered.status.success(), "{gathered:?}");
    let together = report;
    let apart_report = read_report(apart.path());
    assert_eq!(apart_report["folds"], 3);
    for (a, b) in together["summary"]
        .as_array()
        .unwrap()
        .iter()
        .zip(apart_report["summary"].as_array().unwrap())
    {
        assert_eq!(a["metric"], b["metric"]);
        assert_eq!(a["per_fold"], b["per_fold"], "{a} vs {b}");
    }
    let parent = apart_report["parent_run_id"].as_str().unwrap();
    let record = run_record(apart.path(), parent);
    assert_eq!(record["tags"]["cv_role"], "parent", "{record}");
    assert_eq!(record["status"], "FINISHED", "{record}");
    for fold in apart_report["fold_results"].as_array().unwrap() {
        let record = run_record(apart.path(), fold["run_id"].as_str().unwrap());
        assert_eq!(record["tags"]["mlflow.parentRunId"], parent, "{record}");
        assert_eq!(record["tags"]["cv_group"], "job-1", "{record}");
    }
    // Gathering again (a retried pod) reuses the group's parent run.
    assert!(gather("0").status.success());
    assert_eq!(read_report(apart.path())["parent_run_id"], parent);
}

#[test]
fn fold_members_refuse_what_they_cannot_do() {
    let home = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], expected: &str| {
        let output = seizure_ops(home.path())
            .arg("cv")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    refused(
        &["--folds", "3", "--fold", "3", "--group", "g"],
        "--fold 3 is not one of the 3 folds (0 to 2)",
    );
    refused(&["--fold", "0"], "--group");
    refused(
        &["--fold", "0", "--group", "a'b OR 1=1"],
        "cannot be searched for",
    );
    refused(
        &[
            "--fold",
            "0",
            "--group",
            "g",
            "--source",
            "../../etc/passwd",
        ],
        "is neither `production` nor an md5",
    );
    // An md5 with no DVC remote configured: said so, not a silent local run.
    refused(
        &[
            "--fold",
            "0",
            "--group",
            "g",
            "--source",
            "0123456789abcdef0123456789abcdef",
        ],
        "no DVC remote is configured",
    );
    refused(
        &["--gather", "--group", "g"],
        "fold(s) [1, 2, 3, 4, 5] of 5 are not finished",
    );
    assert!(!home.path().join("cv/cv.json").exists());

    // A credential file that cannot be read is named, never replaced by the environment's.
    if cfg!(feature = "fleet") {
        let output = seizure_ops(home.path())
            .args(["cv", "--fold", "0", "--group", "g", "--source"])
            .arg("0123456789abcdef0123456789abcdef")
            .env("DVC_REMOTE_URL", "s3://bucket/prefix")
            .env("AWS_ACCESS_KEY_ID_FILE", home.path().join("no-such-key"))
            .env("AWS_ACCESS_KEY_ID", "from-the-environment")
            .env("AWS_SECRET_ACCESS_KEY", "from-the-environment")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("AWS_ACCESS_KEY_ID_FILE") && stderr.contains("no-such-key"),
            "{stderr}"
        );
    }
}

#[test]
fn a_group_skips_published_folds_waits_for_late_ones_and_refuses_mixed_ones() {
    let home = tempfile::tempdir().unwrap();
    let cv = |args: &[&str]| {
        seizure_ops(home.path())
            .arg("cv")
            .args(args)
            .args(common::QUICK)
            .output()
            .unwrap()
    };
    let ok = |output: std::process::Output| {
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    ok(cv(&["--folds", "2", "--group", "a", "--fold", "0"]));
    // A retried pod whose fold is published does nothing.
    let again = ok(cv(&["--folds", "2", "--group", "a", "--fold", "0"]));
    assert!(again.contains("is already run"), "{again}");
    // Another number of folds in the same group: refused before any training.
    let mixed = cv(&["--folds", "3", "--group", "a", "--fold", "2"]);
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(!mixed.status.success());
    assert!(
        stderr.contains("one group, one number of folds"),
        "{stderr}"
    );

    // A gathering that waits picks up the fold that ends while it waits.
    let gatherer = seizure_ops(home.path())
        .args(["cv", "--folds", "2", "--group", "a", "--gather"])
        .args(["--wait-seconds", "300"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    ok(cv(&["--folds", "2", "--group", "a", "--fold", "1"]));
    let gathered = gatherer.wait_with_output().unwrap();
    let stdout = ok(gathered);
    assert!(stdout.contains("waiting for fold(s) [2]"), "{stdout}");
    assert_eq!(read_report(home.path())["folds"], 2);

    // Folds that read different data are never summarised together.
    ok(cv(&["--folds", "2", "--group", "b", "--fold", "0"]));
    let other_data = seizure_ops(home.path())
        .args(["cv", "--folds", "2", "--group", "b", "--fold", "1"])
        .args(["--epochs", "1", "--max-train-rows", "230"])
        .args(["--synthetic-segments-per-class", "12"])
        .output()
        .unwrap();
    ok(other_data);
    let refused = cv(&["--folds", "2", "--group", "b", "--gather"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("read different raw data"), "{stderr}");
}
