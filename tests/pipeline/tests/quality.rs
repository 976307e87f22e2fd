//! Model quality on the real UCI data, measured on the segment-wise test split with the
//! default pipeline settings. The targets: ROC AUC >= 0.997, sensitivity >= 0.95 at
//! specificity >= 0.98 (a random forest on amplitude/spectral features reaches 0.988 accuracy
//! and 0.998 ROC AUC on this split), and per-patient accuracy of the served answer (at the
//! threshold training chose on validation) >= 0.95. At the old fixed 0.5 it was 0.99; the
//! threshold chosen on 50 validation segments (0.24, validation specificity 0.98) keeps only
//! 0.94 specificity on the test split: docs/evaluation.md reports this.

use eeg_data::prepare::{prepare, PrepareOptions};
use evaluate::registry::RegistryArgs;
use evaluate::EvaluateArgs;
use stage_kit::TrackingArgs;
use training::{train_model, TrainingArgs};

#[test]
fn default_pipeline_meets_the_quality_targets_on_real_data() {
    let Some(csv) = test_support::require_real_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    prepare(&PrepareOptions::new(csv, path("data"))).unwrap();
    let tracking = TrackingArgs {
        tracking_uri: None,
        tracking_dir: path("tracking"),
        experiment: "quality".into(),
    };
    let defaults: TrainingArgs = pipeline_tests::cli_defaults();
    train_model(&TrainingArgs {
        data: path("data"),
        out: path("models"),
        tracking: tracking.clone(),
        ..defaults
    })
    .unwrap();
    let evaluate_defaults: EvaluateArgs = pipeline_tests::cli_defaults();
    let (report, promoted) = evaluate::evaluate(&EvaluateArgs {
        candidate: path("models"),
        data: path("data"),
        reports: path("reports"),
        registry: RegistryArgs {
            production: path("production"),
            audit_log: path("audit.jsonl"),
            model_name: "seizure-lstm".into(),
            tracking,
            dvc: Default::default(),
        },
        ..evaluate_defaults
    })
    .unwrap();
    // The default model clears the default floors.
    assert!(promoted.is_some(), "{}", report.decision.reason);
    let c = &report.candidate;
    eprintln!(
        "real data: roc_auc {:.4}, sensitivity@specificity0.98 {:.4}, patient accuracy {:.4}",
        c.recordings.roc_auc, c.sensitivity_at_target_specificity, c.patients.accuracy
    );
    assert_eq!(report.test_patients, 100);
    assert!(
        c.recordings.roc_auc >= 0.997,
        "ROC AUC {}",
        c.recordings.roc_auc
    );
    assert!(
        c.sensitivity_at_target_specificity >= 0.95,
        "{}",
        c.sensitivity_at_target_specificity
    );
    assert_eq!(c.threshold_source, "model_card");
    assert!(
        c.patients.accuracy >= 0.95,
        "patient accuracy {}",
        c.patients.accuracy
    );
    // The interval is honest about 100 patients: it contains the point and is not tiny.
    // Robust to where a window starts and to recording conditions (the model issue's target:
    // ROC AUC >= 0.995 under each), and exactly blind to a constant baseline offset.
    let robustness = &report.robustness;
    let offsets = robustness
        .offsets
        .as_ref()
        .expect("the dataset keeps test signals");
    assert_eq!(offsets.recordings, 100 * 66);
    for q in std::iter::once(offsets).chain(&robustness.perturbations) {
        eprintln!("{}: roc_auc {:.4}", q.name, q.roc_auc);
        assert!(
            q.roc_auc >= 0.995,
            "{}: ROC AUC {}",
            q.description,
            q.roc_auc
        );
    }
    for q in robustness
        .perturbations
        .iter()
        .filter(|q| q.name.starts_with("baseline"))
    {
        assert_eq!(q.roc_auc, c.recordings.roc_auc, "{}", q.description);
        assert_eq!(q.accuracy, c.recordings.accuracy, "{}", q.description);
    }
    let interval = &c.intervals.patient_accuracy;
    assert!(interval.contains(c.patients.accuracy) && interval.high - interval.low > 0.03);
}
