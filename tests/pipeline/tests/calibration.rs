//! One threshold and calibrated probabilities: training chooses the decision threshold on the
//! validation split (after temperature scaling, when asked), the card carries both, and
//! evaluation reports Brier score, expected calibration error and a reliability diagram at
//! that threshold.

use pipeline_tests::Workspace;
use seizure_model::artifact::read_card;

#[test]
fn temperature_scaling_and_the_threshold_travel_in_the_card_to_the_evaluation() {
    let ws = Workspace::new(None);
    let plain = ws.train(2, 3e-3);
    let plain_threshold = plain.card.decision_threshold.clone().unwrap();
    assert!(plain.card.temperature_scaling.is_none());
    assert!(
        plain_threshold.validation_specificity >= 0.98,
        "{plain_threshold:?}"
    );

    let scaled = ws.train_with(2, 3e-3, |args| args.temperature_scaling = true);
    let t = scaled.card.temperature_scaling.clone().unwrap();
    let (low, high) = seizure_model::temperature::TEMPERATURE_RANGE;
    assert!((low..=high).contains(&t.temperature), "{t:?}");
    assert!(
        t.validation_nll_after <= t.validation_nll_before + 1e-12,
        "{t:?}"
    );
    // Same network (same seed), other probabilities: the threshold is re-chosen on them and
    // still meets the rule.
    let threshold = scaled.card.decision_threshold.clone().unwrap();
    assert!(threshold.validation_specificity >= 0.98, "{threshold:?}");
    // ... chosen on the temperature-scaled validation probabilities, the ones inference serves.
    // Training chooses it on the validation segments cut at every quarter chunk (the dataset
    // keeps their signals), scored as served.
    let predictor = seizure_model::Predictor::load(&ws.path("models")).unwrap();
    let dataset = eeg_data::processed::ProcessedDataset::open(&ws.path("data")).unwrap();
    let signals = dataset
        .signals(eeg_data::processed::Split::Validation)
        .unwrap();
    let windows = eeg_data::offsets::Windows::cut(&signals, eeg_data::offsets::QuarterOffsets::All);
    let served: Vec<f64> = predictor
        .predict(&windows.samples)
        .into_iter()
        .map(f64::from)
        .collect();
    let expected = seizure_model::threshold::choose(&served, &windows.labels, 0.98).unwrap();
    assert_eq!(expected.value, threshold.value);
    let card = read_card(&ws.path("models")).unwrap();
    let stored = card.temperature_scaling.unwrap();
    assert!(
        (stored.temperature - t.temperature).abs() < 1e-12,
        "{stored:?}"
    );

    let (report, _) = ws.evaluate();
    assert_eq!(report.threshold, threshold.value);
    assert_eq!(report.threshold_source, "model_card");
    let calibration = &report.candidate.calibration;
    assert!(
        (0.0..=1.0).contains(&calibration.brier)
            && (0.0..=1.0).contains(&calibration.expected_calibration_error),
        "{calibration:?}"
    );
    let counted: usize = calibration.bins.iter().map(|b| b.count).sum();
    assert_eq!(counted, report.test_recordings);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path("reports/metrics.json")).unwrap())
            .unwrap();
    assert!(metrics["candidate"]["calibration"]["brier"].is_number());
    assert_eq!(
        metrics["candidate"]["calibration"]["bins"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert!(metrics["candidate"]["intervals"]["roc_auc"]["low"].is_number());
    let svg = std::fs::read_to_string(ws.path("reports/reliability.svg")).unwrap();
    assert!(svg.contains("Reliability diagram") && svg.contains("<polyline"));
}
