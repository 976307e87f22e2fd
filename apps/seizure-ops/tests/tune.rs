//! `seizure-ops tune`: real trainings on a small synthetic set; every trial a child run of
//! the parent, the best one written as params.yaml keys with its validation score, pruned
//! trials never chosen, the budget respected, and bad arguments refused with a clear message.

mod common;

use common::seizure_ops;
use serde_json::Value;

const SMALL: [&str; 6] = [
    "--epochs",
    "3",
    "--max-train-rows",
    "230",
    "--synthetic-segments-per-class",
    "10",
];

fn run_record(home: &std::path::Path, run: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(home.join(format!("tracking/runs/{run}/run.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_search_tracks_children_prunes_and_writes_the_best_configuration() {
    let home = tempfile::tempdir().unwrap();
    let output = test_support::run_ok(
        seizure_ops(home.path())
            .args([
                "tune",
                "--trials",
                "6",
                "--parallel",
                "1",
                "--prune-warmup",
                "1",
                "--tune-seed",
                "1",
            ])
            .args(SMALL),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("tuning finished"), "{stdout}");
    assert!(stdout.contains("best: trial"), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("tune/tune.json")).unwrap())
            .unwrap();
    let trials = report["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6);
    let parent = report["parent_run_id"].as_str().unwrap();
    let best = report["best_trial"].as_u64().unwrap();
    let mut pruned = 0;
    let mut stopped_before_the_last_epoch = 0;
    for t in trials {
        let status = t["status"].as_str().unwrap();
        assert!(
            ["completed", "pruned"].contains(&status),
            "every trial runs within an hour's budget: {t}"
        );
        // Each trial is a real training run, a child of the parent, with its configuration.
        let run = t["run_id"].as_str().unwrap();
        let record = run_record(home.path(), run);
        assert_eq!(record["tags"]["mlflow.parentRunId"], parent, "{record}");
        assert_eq!(record["tags"]["tune_status"], status, "{record}");
        let roc = t["val_roc_auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&roc), "{t}");
        if status == "pruned" {
            pruned += 1;
            if t["epochs"].as_u64().unwrap() < 3 {
                stopped_before_the_last_epoch += 1;
            }
            assert_ne!(
                t["trial"].as_u64().unwrap(),
                best,
                "a pruned trial is never best"
            );
        }
    }
    // With one trial at a time and a fixed seed the search is deterministic: with sampler
    // seed 1 on this small set, trials 3-6 fall behind the median of the earlier ones (four
    // are pruned today), so pruning really happens here. (Seed 7 prunes none: its first
    // trial is the worst.)
    assert!(pruned >= 1, "no trial was pruned: {report}");
    // Pruning stops the training (fewer epochs), not only the label.
    assert!(
        stopped_before_the_last_epoch >= 1,
        "no pruned trial stopped early: {report}"
    );

    // The best configuration, as params.yaml keys, with its validation (not test) score.
    let yaml = std::fs::read_to_string(home.path().join("tune/best-params.yaml")).unwrap();
    assert!(yaml.contains("Validation only"), "{yaml}");
    assert!(!yaml.to_lowercase().contains("test split"), "{yaml}");
    let best_trial = &trials[best as usize - 1];
    assert!(
        yaml.contains(&format!(
            "  lstm_hidden: {}",
            best_trial["config"]["lstm_hidden"]
        )),
        "{yaml}"
    );
    // The winner beats (or ties) every other eligible trial on validation ROC AUC.
    let best_roc = best_trial["val_roc_auc"].as_f64().unwrap();
    for t in trials.iter().filter(|t| t["status"] == "completed") {
        assert!(t["val_roc_auc"].as_f64().unwrap() <= best_roc, "{t}");
    }
    let parent_record = run_record(home.path(), parent);
    assert_eq!(
        parent_record["tags"]["best_trial"],
        best.to_string(),
        "{parent_record}"
    );
}

#[test]
fn two_trials_at_a_time_finish_every_trial() {
    let home = tempfile::tempdir().unwrap();
    test_support::run_ok(
        seizure_ops(home.path())
            .args(["tune", "--trials", "3", "--parallel", "2"])
            .args(SMALL),
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("tune/tune.json")).unwrap())
            .unwrap();
    assert_eq!(report["parallel"], 2);
    let trials: Vec<u64> = report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trial"].as_u64().unwrap())
        .collect();
    assert_eq!(trials, [1, 2, 3], "each trial exactly once, in order");

    // The same trials apart, one process each (as the Kubernetes Indexed Job's pods), then
    // gathered through the tracker: the same scores (none of these is pruned in-process
    // either), the same winner, the same best configuration.
    let apart = tempfile::tempdir().unwrap();
    let tune = |extra: &[&str]| {
        seizure_ops(apart.path())
            .args(["tune", "--trials", "3", "--group", "tune-job"])
            .args(extra)
            .args(SMALL)
            .output()
            .unwrap()
    };
    for trial in ["2", "0", "1"] {
        let member = tune(&["--trial", trial]);
        assert!(member.status.success(), "{member:?}");
    }
    let refused = tune(&["--gather", "--tune-seed", "8"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("gather with the members' settings"),
        "{stderr}"
    );
    let gathered = tune(&["--gather"]);
    assert!(gathered.status.success(), "{gathered:?}");
    let apart_report: Value = serde_json::from_str(
        &std::fs::read_to_string(apart.path().join("tune/tune.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(apart_report["best_trial"], report["best_trial"]);
    for (a, b) in report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .zip(apart_report["trials"].as_array().unwrap())
    {
        assert_eq!(a["status"], "completed", "{a}");
        assert_eq!(b["status"], "completed", "{b}");
        assert_eq!(a["config"], b["config"]);
        assert_eq!(a["val_roc_auc"], b["val_roc_auc"], "{a} vs {b}");
        let record = run_record(apart.path(), b["run_id"].as_str().unwrap());
        assert_eq!(
            record["tags"]["mlflow.parentRunId"],
            apart_report["parent_run_id"]
        );
    }
    // The keys (the header names the run, which differs).
    let keys = |home: &std::path::Path| -> String {
        std::fs::read_to_string(home.join("tune/best-params.yaml"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(keys(home.path()), keys(apart.path()));
}

#[test]
fn an_exhausted_budget_starts_nothing_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let output = seizure_ops(home.path())
        .args(["tune", "--trials", "2", "--budget-minutes", "0.00001"])
        .args(SMALL)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no trial finished"), "{stderr}");
    assert!(stderr.contains("2 not started"), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join("tune/tune.json")).unwrap())
            .unwrap();
    assert!(report["trials"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "not_started"));
    assert!(!home.path().join("tune/best-params.yaml").exists());
}

#[test]
fn bad_arguments_are_refused_with_the_flag_named() {
    for (args, words) in [
        (&["--trials", "0"][..], "--trials"),
        (&["--budget-minutes", "0"], "--budget-minutes"),
        (&["--budget-minutes", "NaN"], "--budget-minutes"),
        (&["--budget-minutes=-5"], "--budget-minutes"),
        (&["--budget-minutes", "1e300"], "--budget-minutes"),
        (&["--parallel", "0"], "--parallel"),
        (&["--trials=-1"], "--trials"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let output = seizure_ops(home.path())
            .arg("tune")
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(!home.path().join("tune").exists(), "{args:?} left files");
    }
}
