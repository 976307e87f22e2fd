//! The promotion decision: what a candidate must clear before it may serve patients.
//!
//! In order, each a refusal with the metric, the value and the bar:
//! 1. **Finite**: every test score, every metric in the model card (training and validation
//!    losses) and every headline metric is a number. Nothing overrides this.
//! 2. **Quality floor**: ROC AUC and sensitivity at the target specificity at or above
//!    absolute minimums, first promotion included, and a usable decision threshold in the
//!    card (chosen on validation, at most 1). Nothing overrides this either.
//! 3. **Better than production**: on the same frozen test split, the candidate's primary metric
//!    minus production's, resampled over segments (paired bootstrap: both models scored on
//!    the same draw), must have its one-sided lower confidence bound above the margin
//!    (>= 0). A production model trained on other data cannot be compared fairly (its
//!    training segments may be in this test split): it is replaced only by `--force`.
//!    `--force` with a reason overrides only this step, and is recorded as forced.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::intervals::{self, Interval, Segments};
use crate::metrics;
use crate::scoring::ModelEvaluation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryMetric {
    RocAuc,
    PrAuc,
    F1,
    Accuracy,
    Sensitivity,
    PatientAccuracy,
}

impl PrimaryMetric {
    pub const ALL: [Self; 6] = [
        Self::RocAuc,
        Self::PrAuc,
        Self::F1,
        Self::Accuracy,
        Self::Sensitivity,
        Self::PatientAccuracy,
    ];

    /// The name on the command line (`--primary-metric`, `params.yaml`).
    pub fn flag_name(self) -> &'static str {
        match self {
            PrimaryMetric::RocAuc => "roc-auc",
            PrimaryMetric::PrAuc => "pr-auc",
            PrimaryMetric::F1 => "f1",
            PrimaryMetric::Accuracy => "accuracy",
            PrimaryMetric::Sensitivity => "sensitivity",
            PrimaryMetric::PatientAccuracy => "patient-accuracy",
        }
    }

    /// The name in reports and the tracker.
    pub fn name(self) -> &'static str {
        match self {
            PrimaryMetric::RocAuc => "roc_auc",
            PrimaryMetric::PrAuc => "pr_auc",
            PrimaryMetric::F1 => "f1",
            PrimaryMetric::Accuracy => "accuracy",
            PrimaryMetric::Sensitivity => "sensitivity",
            PrimaryMetric::PatientAccuracy => "patient_accuracy",
        }
    }

    pub fn of(self, evaluation: &ModelEvaluation) -> f64 {
        let m = &evaluation.recordings;
        match self {
            PrimaryMetric::RocAuc => m.roc_auc,
            PrimaryMetric::PrAuc => m.pr_auc,
            PrimaryMetric::F1 => m.f1,
            PrimaryMetric::Accuracy => m.accuracy,
            PrimaryMetric::Sensitivity => m.sensitivity,
            PrimaryMetric::PatientAccuracy => evaluation.patients.accuracy,
        }
    }

    /// The metric on a subset of recordings (`groups`: the patient of each).
    fn on(
        self,
        scores: &[f64],
        labels: &[bool],
        groups: &[u32],
        threshold: f64,
        call: &seizure_model::PatientCall,
    ) -> f64 {
        match self {
            PrimaryMetric::RocAuc => metrics::roc_auc(scores, labels),
            PrimaryMetric::PrAuc => metrics::average_precision(scores, labels),
            PrimaryMetric::F1 => metrics::compute(scores, labels, threshold).f1,
            PrimaryMetric::Accuracy => metrics::compute(scores, labels, threshold).accuracy,
            PrimaryMetric::Sensitivity => metrics::compute(scores, labels, threshold).sensitivity,
            PrimaryMetric::PatientAccuracy => {
                let (_, s, l) = metrics::per_group(scores, labels, groups, call);
                metrics::compute(&s, &l, call.threshold).accuracy
            }
        }
    }
}

impl std::str::FromStr for PrimaryMetric {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.flag_name() == name)
            .ok_or_else(|| format!("no primary metric {name:?}"))
    }
}

/// Absolute minimums every production model clears (`params.yaml` `evaluate:`; the flags
/// that set them are `config::PromotionFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityFloor {
    /// No model with a lower test ROC AUC reaches production.
    pub min_roc_auc: f64,
    /// No model with a lower test sensitivity at the target specificity reaches production.
    pub min_sensitivity: f64,
    /// The specificity at which sensitivity is floored and reported.
    pub target_specificity: f64,
}

/// How a candidate must compare with production.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PromotionPolicy {
    pub floor: QualityFloor,
    /// The candidate must beat production's primary metric by more than this (>= 0) at the
    /// confidence below.
    pub min_improvement: f64,
    /// One-sided confidence that the candidate is better by more than the margin; also the
    /// level of every reported interval.
    pub confidence: f64,
    /// Bootstrap draws (of whole segments) for the comparison and the intervals.
    pub resamples: usize,
    /// Seed of the draws: the same inputs always give the same decision.
    pub seed: u64,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl PromotionPolicy {
    /// The defaults, written once (the flags take theirs from here).
    pub const DEFAULT: Self = Self {
        floor: QualityFloor {
            min_roc_auc: 0.95,
            min_sensitivity: 0.90,
            target_specificity: seizure_model::threshold::DEFAULT_TARGET_SPECIFICITY,
        },
        min_improvement: 0.0,
        confidence: 0.95,
        resamples: 1000,
        seed: 20_240_601,
    };

    /// The intervals' settings of this policy (its confidence, draws, seed and target).
    pub fn interval_settings(&self) -> crate::scoring::IntervalSettings {
        crate::scoring::IntervalSettings {
            confidence: self.confidence,
            resamples: self.resamples,
            seed: self.seed,
            target_specificity: self.floor.target_specificity,
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        let f = &self.floor;
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !unit(f.min_roc_auc) || !unit(f.min_sensitivity) || !unit(f.target_specificity) {
            anyhow::bail!(
                "--min-roc-auc, --min-sensitivity and --target-specificity must lie in [0, 1]"
            );
        }
        if !(self.min_improvement.is_finite() && self.min_improvement >= 0.0) {
            anyhow::bail!(
                "--min-improvement must be >= 0 (a negative margin would promote a worse model; \
                 use --force with a reason to override a comparison)"
            );
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            anyhow::bail!("--confidence must lie in (0.5, 1)");
        }
        if self.resamples < 100 {
            anyhow::bail!("--resamples must be at least 100");
        }
        Ok(())
    }
}

/// An explicit override of the comparison with production (never of the floors).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Force {
    pub by: String,
    pub reason: String,
}

/// A scored model, as the decision needs it.
pub struct Scored<'a> {
    pub evaluation: &'a ModelEvaluation,
    /// One per test recording.
    pub scores: &'a [f64],
    /// The card's metrics (training and validation losses and accuracies).
    pub card_metrics: &'a BTreeMap<String, f64>,
}

/// One floor, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorCheck {
    pub metric: String,
    pub value: f64,
    pub floor: f64,
    pub passed: bool,
}

/// The candidate minus production on the same draws of segments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub difference: f64,
    /// Two-sided, at `confidence`.
    pub interval: Interval,
    /// One-sided lower bound at `confidence`: the candidate is better by more than the margin
    /// only if this exceeds it.
    pub lower_bound: f64,
    pub confidence: f64,
    pub resamples: usize,
    pub segments: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub promote: bool,
    /// Promoted by `--force` although the comparison did not support it.
    pub forced: Option<Force>,
    pub primary_metric: &'static str,
    pub candidate_value: f64,
    pub production_value: Option<f64>,
    pub min_improvement: f64,
    pub floors: Vec<FloorCheck>,
    pub comparison: Option<Comparison>,
    pub reason: String,
}

/// The test split's labels and segments, shared by both models.
pub struct Split<'a> {
    pub labels: &'a [bool],
    pub by_segment: &'a Segments,
    /// The processed data version the split belongs to.
    pub data_md5: &'a str,
}

pub fn decide(
    policy: &PromotionPolicy,
    metric: PrimaryMetric,
    candidate: &Scored,
    production: Option<&Scored>,
    split: &Split,
    force: Option<&Force>,
) -> Decision {
    let candidate_value = metric.of(candidate.evaluation);
    let production_value = production.map(|p| metric.of(p.evaluation));
    let floors = floor_checks(&policy.floor, candidate.evaluation);
    let mut decision = Decision {
        promote: false,
        forced: None,
        primary_metric: metric.name(),
        candidate_value,
        production_value,
        min_improvement: policy.min_improvement,
        floors: floors.clone(),
        comparison: None,
        reason: String::new(),
    };
    if let Some(problem) = non_finite(candidate, metric) {
        decision.reason = format!("{problem}: a diverged or undefined model is never promoted");
        return decision;
    }
    if let Some(failed) = floors.iter().find(|c| !c.passed) {
        decision.reason = format!(
            "the candidate's {} {:.4} is below the floor {} (no model reaches production below it)",
            failed.metric, failed.value, failed.floor
        );
        return decision;
    }
    if let Some(problem) = unusable_threshold(candidate.evaluation) {
        decision.reason = problem;
        return decision;
    }
    let Some(production) = production else {
        decision.promote = true;
        decision.reason =
            "there is no production model, and the candidate clears every floor".into();
        return decision;
    };
    let current = metric.of(production.evaluation);
    if !current.is_finite() || !metrics::all_finite(production.scores) {
        decision.promote = true;
        decision.reason = format!(
            "production's {} is undefined on this test split; the candidate clears every floor",
            metric.name()
        );
        return decision;
    }
    // Production trained on other data may have trained on segments of this test split:
    // its score here is flattering and no comparison is fair. Only an explicit, recorded
    // decision replaces it.
    let production_data = production.evaluation.training_data_md5.as_deref();
    if production_data != Some(split.data_md5) {
        let why = format!(
            "production was trained on data {}, not {} (this test split's): its training \
             segments may be in this test split, so no fair comparison is possible",
            production_data.unwrap_or("(unknown)"),
            split.data_md5
        );
        match force {
            Some(force) => {
                decision.promote = true;
                decision.forced = Some(force.clone());
                decision.reason = format!("FORCED by {} ({}): {why}", force.by, force.reason);
            }
            None => {
                decision.reason = format!(
                    "{why}; the candidate clears every floor: promote it with --force \
                     --force-reason if it should replace production"
                );
            }
        }
        return decision;
    }
    let comparison = compare(policy, metric, candidate, production, split);
    let summary = format!(
        "candidate {name} {candidate_value:.4} vs production {current:.4}: difference {:+.4} \
         ({:.0}% CI {:+.4} to {:+.4}, paired bootstrap over {} segments, {} draws)",
        comparison.difference,
        comparison.confidence * 100.0,
        comparison.interval.low,
        comparison.interval.high,
        comparison.segments,
        comparison.resamples,
        name = metric.name(),
    );
    if comparison.lower_bound > policy.min_improvement {
        decision.promote = true;
        decision.reason = format!(
            "{summary}; better by more than {} at {:.0}% confidence (lower bound {:+.4})",
            policy.min_improvement,
            policy.confidence * 100.0,
            comparison.lower_bound
        );
    } else if let Some(force) = force {
        decision.promote = true;
        decision.forced = Some(force.clone());
        decision.reason = format!(
            "FORCED by {} ({}): {summary}; not shown better by more than {} at {:.0}% confidence",
            force.by,
            force.reason,
            policy.min_improvement,
            policy.confidence * 100.0
        );
    } else {
        decision.reason = format!(
            "{summary}; not shown better by more than {} at {:.0}% confidence (lower bound {:+.4})",
            policy.min_improvement,
            policy.confidence * 100.0,
            comparison.lower_bound
        );
    }
    decision.comparison = Some(comparison);
    decision
}

/// What is not a number in the candidate, if anything.
fn non_finite(candidate: &Scored, metric: PrimaryMetric) -> Option<String> {
    let e = candidate.evaluation;
    if e.non_finite_scores > 0 {
        return Some(format!(
            "the candidate scored {} of {} test recordings as NaN or infinite",
            e.non_finite_scores, e.recordings.count
        ));
    }
    if let Some((key, value)) = candidate.card_metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Some(format!("the candidate's {key} from training is {value}"));
    }
    [
        (metric.name(), metric.of(e)),
        ("roc_auc", e.recordings.roc_auc),
        ("pr_auc", e.recordings.pr_auc),
        (
            "sensitivity_at_target_specificity",
            e.sensitivity_at_target_specificity,
        ),
        ("patient_accuracy", e.patients.accuracy),
    ]
    .into_iter()
    .find(|(_, v)| !v.is_finite())
    .map(|(name, value)| format!("the candidate's {name} on the test split is {value}"))
}

/// Why the threshold the candidate would be served at is unusable, if it is: a card without
/// a chosen threshold (it predates the rule, or its validation scores were not finite), or one
/// above every probability (it would never say seizure).
fn unusable_threshold(e: &ModelEvaluation) -> Option<String> {
    let threshold = e.recordings.threshold;
    if e.threshold_source == "fallback" {
        return Some(
            "the candidate's model card has no decision threshold (training chooses one on \
             validation): retrain it"
                .into(),
        );
    }
    if !(0.0..=1.0).contains(&threshold) {
        return Some(format!(
            "the candidate's decision threshold {threshold} is above every probability: it \
             would never answer seizure"
        ));
    }
    None
}

pub fn floor_checks(floor: &QualityFloor, e: &ModelEvaluation) -> Vec<FloorCheck> {
    let check = |metric: String, value: f64, floor: f64| FloorCheck {
        passed: value >= floor,
        metric,
        value,
        floor,
    };
    vec![
        check("roc_auc".into(), e.recordings.roc_auc, floor.min_roc_auc),
        check(
            format!("sensitivity at specificity >= {}", floor.target_specificity),
            e.sensitivity_at_target_specificity,
            floor.min_sensitivity,
        ),
    ]
}

/// Paired segment bootstrap of candidate minus production.
fn compare(
    policy: &PromotionPolicy,
    metric: PrimaryMetric,
    candidate: &Scored,
    production: &Scored,
    split: &Split,
) -> Comparison {
    let (ct, pt) = (
        candidate.evaluation.recordings.threshold,
        production.evaluation.recordings.threshold,
    );
    let difference = metric.of(candidate.evaluation) - metric.of(production.evaluation);
    let pick = |scores: &[f64], indices: &[usize]| -> Vec<f64> {
        indices.iter().map(|&i| scores[i]).collect()
    };
    let differences = intervals::bootstrap(
        split.by_segment,
        policy.resamples,
        policy.seed,
        |indices, groups| {
            let labels: Vec<bool> = indices.iter().map(|&i| split.labels[i]).collect();
            let (cc, pc) = (
                &candidate.evaluation.patient_call,
                &production.evaluation.patient_call,
            );
            metric.on(&pick(candidate.scores, indices), &labels, groups, ct, cc)
                - metric.on(&pick(production.scores, indices), &labels, groups, pt, pc)
        },
    );
    Comparison {
        difference,
        interval: intervals::percentile_interval(&differences, policy.confidence),
        lower_bound: intervals::quantile(&differences, 1.0 - policy.confidence),
        confidence: policy.confidence,
        resamples: differences.len(),
        segments: split.by_segment.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intervals::Segments;
    use crate::scoring::{IntervalSettings, QualityIntervals};

    /// A model's evaluation computed from `scores` the way the service does it.
    fn evaluation_of(scores: &[f64], labels: &[bool], segments: &[u32]) -> ModelEvaluation {
        let call = seizure_model::PatientCall::mean_at(0.5);
        let (_, ps, pl) = metrics::per_group(scores, labels, segments, &call);
        let nan = Interval {
            low: f64::NAN,
            high: f64::NAN,
            method: "none",
        };
        let settings = IntervalSettings {
            confidence: 0.95,
            resamples: 100,
            seed: 1,
            target_specificity: 0.98,
        };
        ModelEvaluation {
            run_id: None,
            version: None,
            training_data_md5: Some("data.dir".into()),
            threshold_source: "override",
            decision_basis: "validation",
            patient_call: call,
            recordings: metrics::compute(scores, labels, 0.5),
            patients: metrics::compute(&ps, &pl, 0.5),
            target_specificity: settings.target_specificity,
            sensitivity_at_target_specificity: metrics::sensitivity_at_specificity(
                scores, labels, 0.98,
            ),
            intervals: QualityIntervals {
                confidence: 0.95,
                roc_auc: nan,
                pr_auc: nan,
                sensitivity_at_target_specificity: nan,
                accuracy: nan,
                specificity: nan,
                sensitivity: nan,
                patient_accuracy: nan,
                patient_sensitivity: nan,
                patient_specificity: nan,
            },
            calibration: crate::calibration::of(scores, labels),
            non_finite_scores: scores.iter().filter(|s| !s.is_finite()).count(),
        }
    }

    /// 60 segments of 10 recordings, every third a seizure segment; scores from `noise`.
    fn split() -> (Vec<bool>, Vec<u32>) {
        let segments: Vec<u32> = (0..600).map(|i| i / 10).collect();
        let labels = segments.iter().map(|s| s % 3 == 0).collect();
        (labels, segments)
    }

    fn scores(labels: &[bool], separation: f64, seed: u64) -> Vec<f64> {
        let mut rng = eeg_data::random::Rng::new(seed);
        labels
            .iter()
            .map(|&l| {
                let z = rng.normal() + if l { separation } else { 0.0 };
                1.0 / (1.0 + (-z).exp())
            })
            .collect()
    }

    fn policy() -> PromotionPolicy {
        PromotionPolicy {
            floor: QualityFloor {
                min_roc_auc: 0.7,
                min_sensitivity: 0.0,
                target_specificity: 0.98,
            },
            min_improvement: 0.0,
            confidence: 0.95,
            resamples: 500,
            seed: 3,
        }
    }

    fn run(
        candidate: &[f64],
        production: Option<&[f64]>,
        policy: &PromotionPolicy,
        force: Option<&Force>,
    ) -> Decision {
        let (labels, segments) = split();
        let by_segment = Segments::of(&segments);
        let empty = BTreeMap::new();
        let ce = evaluation_of(candidate, &labels, &segments);
        let pe = production.map(|p| evaluation_of(p, &labels, &segments));
        let c = Scored {
            evaluation: &ce,
            scores: candidate,
            card_metrics: &empty,
        };
        let p = production
            .zip(pe.as_ref())
            .map(|(scores, evaluation)| Scored {
                evaluation,
                scores,
                card_metrics: &empty,
            });
        decide(
            policy,
            PrimaryMetric::RocAuc,
            &c,
            p.as_ref(),
            &Split {
                labels: &labels,
                by_segment: &by_segment,
                data_md5: "data.dir",
            },
            force,
        )
    }

    #[test]
    fn noise_alone_does_not_promote_and_a_clear_gain_does() {
        let (labels, _) = split();
        let production = scores(&labels, 2.0, 1);
        // The same model quality, another draw of noise: no promotion.
        let same = scores(&labels, 2.0, 2);
        let d = run(&same, Some(&production), &policy(), None);
        assert!(!d.promote, "{}", d.reason);
        assert!(d.reason.contains("not shown better"), "{}", d.reason);
        let c = d.comparison.unwrap();
        assert!(c.interval.contains(c.difference), "{c:?}");
        // Clearly better: promoted, with the interval above zero.
        let better = scores(&labels, 4.0, 2);
        let d = run(&better, Some(&production), &policy(), None);
        assert!(d.promote, "{}", d.reason);
        assert!(d.comparison.unwrap().lower_bound > 0.0);
        // A margin larger than the gain refuses it.
        let strict = PromotionPolicy {
            min_improvement: 0.5,
            ..policy()
        };
        assert!(!run(&better, Some(&production), &strict, None).promote);
    }

    #[test]
    fn floors_and_finiteness_hold_for_the_first_model_and_against_force() {
        let (labels, _) = split();
        let force = Force {
            by: "ada".into(),
            reason: "test".into(),
        };
        let useless = scores(&labels, 0.0, 4);
        let d = run(&useless, None, &policy(), Some(&force));
        assert!(!d.promote, "{}", d.reason);
        assert!(
            d.reason.contains("roc_auc") && d.reason.contains("below the floor 0.7"),
            "{}",
            d.reason
        );
        let diverged = vec![f64::NAN; labels.len()];
        let d = run(&diverged, None, &policy(), Some(&force));
        assert!(!d.promote);
        assert!(d.reason.contains("600 of 600"), "{}", d.reason);
        let good = scores(&labels, 3.0, 4);
        let d = run(&good, None, &policy(), None);
        assert!(
            d.promote && d.reason.contains("no production"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn force_overrides_only_the_comparison_and_says_so() {
        let (labels, _) = split();
        let production = scores(&labels, 2.0, 1);
        let same = scores(&labels, 2.0, 2);
        let force = Force {
            by: "ada@ward".into(),
            reason: "the old model misreads the new amplifier".into(),
        };
        let d = run(&same, Some(&production), &policy(), Some(&force));
        assert!(d.promote);
        assert_eq!(d.forced.as_ref(), Some(&force));
        assert!(d.reason.starts_with("FORCED by ada@ward"), "{}", d.reason);
    }

    #[test]
    fn production_from_other_data_is_replaced_only_by_force() {
        let (labels, segments) = split();
        let by_segment = Segments::of(&segments);
        let empty = BTreeMap::new();
        let good = scores(&labels, 3.0, 5);
        let ce = evaluation_of(&good, &labels, &segments);
        let mut pe = evaluation_of(&scores(&labels, 1.0, 6), &labels, &segments);
        pe.training_data_md5 = Some("other.dir".into());
        let split = Split {
            labels: &labels,
            by_segment: &by_segment,
            data_md5: "data.dir",
        };
        let scored = |e| Scored {
            evaluation: e,
            scores: &good,
            card_metrics: &empty,
        };
        let d = decide(
            &policy(),
            PrimaryMetric::RocAuc,
            &scored(&ce),
            Some(&scored(&pe)),
            &split,
            None,
        );
        assert!(!d.promote);
        assert!(
            d.reason.contains("no fair comparison") && d.reason.contains("--force"),
            "{}",
            d.reason
        );
        let force = Force {
            by: "ada".into(),
            reason: "new data version".into(),
        };
        let d = decide(
            &policy(),
            PrimaryMetric::RocAuc,
            &scored(&ce),
            Some(&scored(&pe)),
            &split,
            Some(&force),
        );
        assert!(d.promote && d.forced.is_some(), "{}", d.reason);
    }

    #[test]
    fn a_threshold_that_never_says_seizure_is_refused() {
        let (labels, segments) = split();
        let mut e = evaluation_of(&scores(&labels, 3.0, 5), &labels, &segments);
        e.recordings.threshold = 1.000_000_1;
        assert!(unusable_threshold(&e)
            .unwrap()
            .contains("never answer seizure"));
        e.recordings.threshold = 0.7;
        e.threshold_source = "fallback";
        assert!(unusable_threshold(&e)
            .unwrap()
            .contains("no decision threshold"));
        e.threshold_source = "model_card";
        assert!(unusable_threshold(&e).is_none());
    }

    #[test]
    fn the_policy_refuses_negative_margins() {
        let negative = PromotionPolicy {
            min_improvement: -0.01,
            ..policy()
        };
        assert!(format!("{:#}", negative.check().unwrap_err()).contains(">= 0"));
        assert!(policy().check().is_ok());
    }
}
