//! One model scored on the test split: metrics per recording and per patient, each headline
//! figure with its 95% interval.

use eeg_data::processed::{ProcessedDataset, Split};
use seizure_model::{PatientCall, Predictor, ThresholdSource};
use serde::Serialize;

use crate::calibration::{self, Calibration};
use crate::intervals::{self, Interval, Segments};
use crate::metrics::{self, Metrics};

/// The test split's raw recordings, labels and segments.
pub struct TestSet {
    pub samples: Vec<f32>,
    pub labels: Vec<bool>,
    pub segments: Vec<u32>,
    pub by_segment: Segments,
}

impl TestSet {
    pub fn load(dataset: &ProcessedDataset) -> anyhow::Result<Self> {
        let arrays = dataset.split(Split::Test)?;
        let raw = dataset.raw(Split::Test)?;
        if arrays.rows() == 0 {
            anyhow::bail!("{}: the test split is empty", dataset.dir.display());
        }
        let segments = arrays.segment.to_vec();
        Ok(Self {
            samples: raw.iter().copied().collect(),
            labels: arrays.y.iter().map(|&y| y == 1).collect(),
            by_segment: Segments::of(&segments),
            segments,
        })
    }
}

/// How intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IntervalSettings {
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
    /// The specificity at which sensitivity is reported (and floored).
    pub target_specificity: f64,
}

/// The 95% (or configured) intervals of a model's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityIntervals {
    pub confidence: f64,
    /// Segment bootstrap (recordings of one segment are resampled together).
    pub roc_auc: Interval,
    pub pr_auc: Interval,
    pub sensitivity_at_target_specificity: Interval,
    pub accuracy: Interval,
    /// Window specificity and sensitivity at the served threshold (whether the window
    /// decision's target specificity holds on the test split is whether it lies inside).
    pub specificity: Interval,
    pub sensitivity: Interval,
    /// Wilson intervals: patients are independent units.
    pub patient_accuracy: Interval,
    pub patient_sensitivity: Interval,
    pub patient_specificity: Interval,
}

/// One model's scores on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEvaluation {
    pub run_id: Option<String>,
    pub version: Option<String>,
    pub training_data_md5: Option<String>,
    /// Where `recordings.threshold` comes from: `model_card`, `override` or `fallback`.
    pub threshold_source: &'static str,
    /// How the card's decisions were chosen: `out_of_fold`, `validation` (an earlier card,
    /// one threshold for every decision) or `none`.
    pub decision_basis: &'static str,
    /// How a patient (a segment) is called: the card's patient decision.
    pub patient_call: PatientCall,
    pub recordings: Metrics,
    /// Each segment's recordings scored by the patient rule, at the patient threshold.
    pub patients: Metrics,
    pub target_specificity: f64,
    /// Best recording-level sensitivity at a specificity of at least `target_specificity`.
    pub sensitivity_at_target_specificity: f64,
    pub intervals: QualityIntervals,
    /// Of the recording probabilities: Brier score, expected calibration error, reliability.
    pub calibration: Calibration,
    /// Test recordings whose score is NaN or infinite (a diverged model).
    pub non_finite_scores: usize,
}

/// The model's probability for each test recording, as f64.
pub fn scores(predictor: &Predictor, test: &TestSet) -> Vec<f64> {
    predictor
        .predict(&test.samples)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Evaluates `scores` (one per test recording) at the model card's threshold, or at
/// `threshold_override`.
pub fn evaluate(
    predictor: &Predictor,
    scores: &[f64],
    test: &TestSet,
    threshold_override: Option<f64>,
    version: Option<String>,
    settings: &IntervalSettings,
) -> ModelEvaluation {
    let card = predictor.card();
    let (threshold, source) = match threshold_override {
        Some(value) => (value, ThresholdSource::Override),
        None => card.threshold(),
    };
    let patient_call = card.patient_call(threshold);
    let (_, patient_scores, patient_labels) =
        metrics::per_group(scores, &test.labels, &test.segments, &patient_call);
    let recordings = metrics::compute(scores, &test.labels, threshold);
    let patients = metrics::compute(&patient_scores, &patient_labels, patient_call.threshold);
    let intervals = intervals_of(scores, test, threshold, &patients, settings);
    ModelEvaluation {
        run_id: card.run_id.clone(),
        version,
        training_data_md5: card.training_data_md5.clone(),
        threshold_source: source.as_str(),
        decision_basis: card.decision_basis(),
        patient_call,
        sensitivity_at_target_specificity: metrics::sensitivity_at_specificity(
            scores,
            &test.labels,
            settings.target_specificity,
        ),
        target_specificity: settings.target_specificity,
        recordings,
        patients,
        intervals,
        calibration: calibration::of(scores, &test.labels),
        non_finite_scores: scores.iter().filter(|s| !s.is_finite()).count(),
    }
}

fn intervals_of(
    scores: &[f64],
    test: &TestSet,
    threshold: f64,
    patients: &Metrics,
    settings: &IntervalSettings,
) -> QualityIntervals {
    let finite = metrics::all_finite(scores);
    let resampled = |statistic: &dyn Fn(&[f64], &[bool]) -> f64| {
        let values = intervals::bootstrap(
            &test.by_segment,
            settings.resamples,
            settings.seed,
            |indices, _| {
                let s: Vec<f64> = indices.iter().map(|&i| scores[i]).collect();
                let l: Vec<bool> = indices.iter().map(|&i| test.labels[i]).collect();
                statistic(&s, &l)
            },
        );
        let values = if finite { values } else { Vec::new() };
        intervals::percentile_interval(&values, settings.confidence)
    };
    let c = &patients.confusion;
    let wilson = |k, n| intervals::wilson(k, if finite { n } else { 0 }, settings.confidence);
    QualityIntervals {
        confidence: settings.confidence,
        roc_auc: resampled(&metrics::roc_auc),
        pr_auc: resampled(&metrics::average_precision),
        sensitivity_at_target_specificity: resampled(&|s, l| {
            metrics::sensitivity_at_specificity(s, l, settings.target_specificity)
        }),
        accuracy: resampled(&|s, l| metrics::compute(s, l, threshold).accuracy),
        specificity: resampled(&|s, l| metrics::compute(s, l, threshold).specificity),
        sensitivity: resampled(&|s, l| metrics::compute(s, l, threshold).sensitivity),
        patient_accuracy: wilson(c.true_positive + c.true_negative, patients.count),
        patient_sensitivity: wilson(c.true_positive, c.true_positive + c.false_negative),
        patient_specificity: wilson(c.true_negative, c.true_negative + c.false_positive),
    }
}
