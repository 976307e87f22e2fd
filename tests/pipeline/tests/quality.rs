//! Model quality on the real UCI data, measured on the segment-wise test split with the
//! default pipeline settings. The targets: ROC AUC >= 0.997, sensitivity >= 0.95 at
//! specificity >= 0.98 (a random forest on amplitude/spectral features reaches 0.988 accuracy
//! and 0.998 ROC AUC on this split), and per-patient accuracy of the served answer (at the
//! threshold training chose on validation) >= 0.95. At the old fixed 0.5 it was 0.99; the
//! threshold chosen on 50 validation segments (0.24, validation specificity 0.98) keeps only
//! 0.94 specificity on the test split: docs/evaluation.md reports this.

use eeg_data::prepare::{prepare, PrepareOptions};
use evaluate::EvaluateArgs;
use evaluate::RegistryArgs;
use service_flags::TrackingArgs;
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
    let defaults: TrainingArgs = service_flags::defaults();
    train_model(
        &TrainingArgs {
            data: path("data"),
            out: path("models"),
            tracking: tracking.clone(),
            ..defaults
        }
        .settings()
        .unwrap(),
    )
    .unwrap();
    let evaluate_defaults: EvaluateArgs = service_flags::defaults();
    let (report, promoted) = evaluate::evaluate(
        &EvaluateArgs {
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
        }
        .settings()
        .unwrap(),
    )
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
    // The decisions chosen out of fold hold on the test split: the test bootstrap interval of
    // the window specificity reaches the 0.98 target (0.954 [0.920, 0.982] measured with the
    // conv front end, 0.964 [0.934, 0.989] with frames; the validation-chosen threshold of
    // earlier releases kept 0.927, whose interval did not), and patients are called by their
    // own decision (98 of 100 measured with conv, 99 with frames). The conv model sits at
    // these floors (0.954 >= 0.95, 0.982 >= 0.98, 0.98 >= 0.98): its weights are the same on
    // every run on one machine (tests/reference.rs), so this is a fixed result, not a coin;
    // on another CPU's rounding a patient may flip, and the floors say what is promised.
    assert_eq!(c.decision_basis, "out_of_fold");
    let specificity = &c.intervals.specificity;
    eprintln!(
        "window specificity {:.4} [{:.4}, {:.4}]",
        c.recordings.specificity, specificity.low, specificity.high
    );
    assert!(
        specificity.high >= 0.98 && c.recordings.specificity >= 0.95,
        "window specificity {} [{}, {}] falls short of the 0.98 target",
        c.recordings.specificity,
        specificity.low,
        specificity.high
    );
    assert!(
        c.patients.accuracy >= 0.98,
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

    drift_and_ood_on_held_out_data(&path("models"), &path("data"));
}

/// The drift profile training stored with the model, on the held-out test segments: unchanged
/// recordings keep the drift score under 1 and almost no window flagged out of distribution;
/// gain x2, a baseline offset and 50 Hz mains hum push the score over 1 (the alert's
/// condition); a gain of 10 and a flat line are flagged window by window.
fn drift_and_ood_on_held_out_data(models: &std::path::Path, data: &std::path::Path) {
    use eeg_data::processed::{ProcessedDataset, Split};
    use evaluate::robustness::{perturbed, Perturbation};
    let predictor = seizure_model::Predictor::load(models).unwrap();
    let profile = predictor
        .profile()
        .expect("training stores a drift profile")
        .clone();
    assert_eq!(profile.drift.window, 1_000);
    let threshold = predictor.card().threshold().0;
    // The test segments cut at every quarter chunk: 6,600 windows, as a stream presents them.
    let signals = ProcessedDataset::open(data)
        .unwrap()
        .signals(Split::Test)
        .unwrap();
    let cut = eeg_data::offsets::Windows::cut(&signals, eeg_data::offsets::QuarterOffsets::All);
    // Interleaved, as a fleet of concurrent patients sends them.
    let mut order: Vec<usize> = (0..cut.labels.len()).collect();
    eeg_data::random::Rng::new(9).shuffle(&mut order);
    let test: Vec<f32> = order
        .iter()
        .flat_map(|&i| &cut.samples[i * 178..(i + 1) * 178])
        .copied()
        .collect();
    let test = &test[..];
    let extractor = drift::FeatureExtractor::for_recordings();
    let stream = |samples: &[f32]| {
        let probabilities = predictor.predict(samples);
        let mut window = drift::DriftWindow::new(profile.drift.window);
        let mut flagged = 0;
        for (recording, p) in samples.chunks_exact(178).zip(&probabilities) {
            let features = extractor.features(recording);
            flagged += usize::from(profile.ood.score(&features).flagged);
            window.observe(&features, f64::from(*p) >= threshold);
        }
        let report = window.snapshot().report(&profile);
        let share = flagged as f64 / probabilities.len() as f64;
        (
            report.features,
            report.predicted_seizure_rate.unwrap(),
            share,
        )
    };
    let (unchanged, rate, ood_share) = stream(test);
    let unchanged = unchanged.expect("a full window");
    eprintln!(
        "drift unchanged: score {:.2} ({}), predicted seizure rate {rate:.3} (threshold {:.3}), \
         OOD flagged {ood_share:.4}",
        unchanged.score, unchanged.feature, profile.rate.threshold
    );
    assert!(unchanged.score < 1.0, "{unchanged:?}");
    assert!(rate < profile.rate.threshold);
    assert!(ood_share < 0.01, "{ood_share}");
    for perturbation in [
        Perturbation::Gain(2.0),
        Perturbation::Baseline(300.0),
        Perturbation::Hum(20.0),
    ] {
        let (drift, rate, ood_share) = stream(&perturbed(test, perturbation, 5));
        let drift = drift.expect("a full window");
        eprintln!(
            "drift {}: score {:.2} ({}), predicted seizure rate {rate:.3}, OOD flagged {ood_share:.4}",
            perturbation.name(),
            drift.score,
            drift.feature
        );
        assert!(drift.score > 1.0, "{}: {drift:?}", perturbation.name());
    }
    for perturbation in [Perturbation::Gain(1.3), Perturbation::Noise(10.0)] {
        let (drift, rate, ood_share) = stream(&perturbed(test, perturbation, 5));
        let drift = drift.expect("a full window");
        eprintln!(
            "drift {} (reported, not asserted): score {:.2} ({}), rate {rate:.3}, OOD {ood_share:.4}",
            perturbation.name(),
            drift.score,
            drift.feature
        );
    }
    let (_, _, gain_10) = stream(&perturbed(test, Perturbation::Gain(10.0), 5));
    eprintln!("OOD flagged under gain x10: {gain_10:.3}");
    assert!(gain_10 > 0.25, "{gain_10}");
    let flat = extractor.features(&[25.0; 178]);
    assert!(profile.ood.score(&flat).flagged);
}
