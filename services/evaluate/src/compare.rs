//! The candidate and production scored on the same test split, the promotion decision between
//! them, and the candidate's robustness.

use std::collections::BTreeMap;

use seizure_model::Predictor;

use crate::inputs::Inputs;
use crate::promotion::{self, Decision, Scored};
use crate::robustness::{self, Robustness};
use crate::scoring::{self, IntervalSettings, ModelEvaluation, TestSet};
use crate::settings::EvaluateSettings;

/// A model scored on the test split.
pub(crate) struct ScoredModel {
    /// One per test recording.
    pub scores: Vec<f64>,
    pub evaluation: ModelEvaluation,
    /// The card's metrics (training and validation losses and accuracies).
    pub card_metrics: BTreeMap<String, f64>,
}

impl ScoredModel {
    /// `predictor` (registry version `version`) scored on `test`, at its card's threshold or
    /// at `threshold_override`.
    pub fn score(
        predictor: &Predictor,
        version: Option<String>,
        test: &TestSet,
        threshold_override: Option<f64>,
        settings: &IntervalSettings,
    ) -> Self {
        let scores = scoring::scores(predictor, test);
        let evaluation = scoring::evaluate(
            predictor,
            &scores,
            test,
            threshold_override,
            version,
            settings,
        );
        Self {
            scores,
            evaluation,
            card_metrics: predictor.card().metrics.clone(),
        }
    }

    fn as_scored(&self) -> Scored<'_> {
        Scored {
            evaluation: &self.evaluation,
            scores: &self.scores,
            card_metrics: &self.card_metrics,
        }
    }
}

/// What to warn of about production: trained on another data version, its split may overlap
/// this test split.
pub(crate) fn production_warnings(production: Option<&ScoredModel>, data_md5: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(p) = production.map(|p| &p.evaluation) {
        if p.training_data_md5.as_deref() != Some(data_md5) {
            warnings.push(format!(
                "production was trained on data {}, not {data_md5}: its split may overlap this test split",
                p.training_data_md5.as_deref().unwrap_or("(unknown)")
            ));
        }
    }
    warnings
}

/// Whether the candidate replaces production ([`promotion::decide`]), logged.
pub(crate) fn decide(
    args: &EvaluateSettings,
    inputs: &Inputs,
    candidate: &ScoredModel,
    production: Option<&ScoredModel>,
) -> Decision {
    let decision = promotion::decide(
        &args.policy,
        args.primary_metric,
        &candidate.as_scored(),
        production.map(ScoredModel::as_scored).as_ref(),
        &promotion::Split {
            labels: &inputs.test.labels,
            by_segment: &inputs.test.by_segment,
            data_md5: &inputs.data_md5,
        },
        args.force.as_ref(),
    );
    if decision.promote {
        tracing::info!(reason = %decision.reason, "promotion decision: promote");
    } else {
        tracing::info!(reason = %decision.reason, "promotion decision: keep production");
    }
    decision
}

/// The candidate on test windows at other offsets (when the dataset keeps the test signals;
/// else a warning) and under other recording conditions.
pub(crate) fn robustness(
    inputs: &Inputs,
    candidate: &ScoredModel,
    settings: &IntervalSettings,
    warnings: &mut Vec<String>,
) -> Robustness {
    let offsets = match robustness::offset_windows(&inputs.dataset) {
        Ok(windows) => Some(windows),
        Err(e) => {
            warnings.push(format!("no quality at other offsets: {e:#}"));
            None
        }
    };
    let test = &inputs.test;
    robustness::evaluate(
        &inputs.candidate,
        &robustness::RobustnessInputs {
            samples: &test.samples,
            labels: &test.labels,
            segments: &test.segments,
            aligned_scores: &candidate.scores,
            offsets: offsets.as_ref(),
        },
        candidate.evaluation.recordings.threshold,
        &candidate.evaluation.patient_call,
        settings.target_specificity,
        settings.seed,
    )
}
