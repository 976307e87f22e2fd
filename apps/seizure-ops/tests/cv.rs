//! `seizure-ops cv`: every segment is tested in exactly one fold, each fold is a training run
//! tracked under one parent run, and the summary is the mean and sd of the folds' figures.

mod common;

use std::collections::BTreeSet;

use common::seizure_ops;
use eeg_data::processed::{ProcessedDataset, Split};

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

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("cv/cv.json")).unwrap())
            .unwrap();
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
    }

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
        let run = fold["run_id"].as_str().unwrap();
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.path().join(format!("tracking/runs/{run}/run.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(record["tags"]["mlflow.parentRunId"], parent, "{record}");
    }
}
