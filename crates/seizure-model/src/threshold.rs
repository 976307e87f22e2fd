//! The one decision threshold: chosen once, on the validation split, stored in the model card,
//! and used by evaluation and inference alike (so the accuracy evaluation reports is the
//! accuracy of the answers inference gives).
//!
//! The rule: the **lowest** threshold (among the validation scores) at which the validation
//! specificity reaches the target (default 0.98): as many seizures caught as possible while
//! at most 2% of non-seizure recordings raise an alarm. A recording is a seizure when its
//! probability is at or above the threshold.

use nutype::nutype;
use serde::{Deserialize, Serialize};

/// The default target specificity of the rule.
pub const DEFAULT_TARGET_SPECIFICITY: f64 = 0.98;
/// What a card without a chosen threshold (written before the rule existed) is served with.
pub const FALLBACK_THRESHOLD: f64 = 0.5;

/// A decision threshold set by an operator on the served probability: finite, in [0, 1]
/// (evaluate's `--threshold`, inference's `PREDICTION_THRESHOLD` and `PATIENT_THRESHOLD`).
#[nutype(
    validate(finite, greater_or_equal = 0.0, less_or_equal = 1.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct Threshold(f64);

/// A threshold chosen by the rule, as the model card records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionThreshold {
    pub value: f64,
    /// How it was chosen, in words.
    pub rule: String,
    pub target_specificity: f64,
    /// What the threshold gives on the validation split.
    pub validation_specificity: f64,
    pub validation_sensitivity: f64,
    pub validation_recordings: usize,
}

/// Where the threshold in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    /// Chosen on validation by the rule and stored in the model card.
    ModelCard,
    /// Set explicitly by the operator (`PREDICTION_THRESHOLD`, `--threshold`).
    Override,
    /// The card predates the rule: 0.5.
    Fallback,
}

impl ThresholdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdSource::ModelCard => "model_card",
            ThresholdSource::Override => "override",
            ThresholdSource::Fallback => "fallback",
        }
    }
}

/// Chooses the threshold on validation `scores` (probabilities) and `labels`; None without
/// both classes or with a non-finite score.
pub fn choose(
    scores: &[f64],
    labels: &[bool],
    target_specificity: f64,
) -> Option<DecisionThreshold> {
    let negatives = labels.iter().filter(|&&l| !l).count();
    let positives = labels.len() - negatives;
    if negatives == 0 || positives == 0 || scores.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let mut candidates: Vec<f64> = scores.to_vec();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    // Above every score: everything negative, specificity 1; reached only if no observed
    // score qualifies.
    let above_all = next_up(*candidates.last().expect("scores are not empty"));
    candidates.push(above_all);
    let rate = |threshold: f64| {
        let (mut true_negative, mut true_positive) = (0usize, 0usize);
        for (&score, &label) in scores.iter().zip(labels) {
            match (score >= threshold, label) {
                (false, false) => true_negative += 1,
                (true, true) => true_positive += 1,
                _ => {}
            }
        }
        (
            true_negative as f64 / negatives as f64,
            true_positive as f64 / positives as f64,
        )
    };
    // Specificity grows with the threshold: binary search for the first that reaches it.
    let first = candidates.partition_point(|&t| rate(t).0 < target_specificity);
    let value = candidates[first.min(candidates.len() - 1)];
    let (specificity, sensitivity) = rate(value);
    Some(DecisionThreshold {
        value,
        rule: format!("the lowest threshold with validation specificity >= {target_specificity}"),
        target_specificity,
        validation_specificity: specificity,
        validation_sensitivity: sensitivity,
        validation_recordings: scores.len(),
    })
}

/// The smallest f64 above `x` (finite `x`).
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_threshold_reaching_the_target_specificity() {
        // 50 negatives at 0.00..0.49, 10 positives at 0.45..0.90.
        let mut scores: Vec<f64> = (0..50).map(|i| i as f64 / 100.0).collect();
        let mut labels = vec![false; 50];
        scores.extend((0..10).map(|i| 0.45 + i as f64 * 0.05));
        labels.extend([true; 10]);
        let chosen = choose(&scores, &labels, 0.98).unwrap();
        // Specificity >= 0.98 allows one negative at or above: 49 of 50 below 0.49.
        assert_eq!(chosen.value, 0.49);
        assert!((chosen.validation_specificity - 0.98).abs() < 1e-12);
        // Positives at or above 0.49: 0.50 .. 0.90 = 9 of 10.
        assert!((chosen.validation_sensitivity - 0.9).abs() < 1e-12);
        // The next lower candidate (0.48) misses the target: 48 of 50 negatives below it.
        let below = scores
            .iter()
            .zip(&labels)
            .filter(|(&s, &l)| !l && s < 0.48)
            .count();
        assert!((below as f64 / 50.0) < 0.98);
        // A stricter target needs a higher threshold.
        let lower = choose(&scores, &labels, 0.99).unwrap();
        assert!(lower.value > chosen.value);
        assert_eq!(lower.validation_specificity, 1.0);
    }

    #[test]
    fn saturated_scores_and_degenerate_inputs() {
        // Every negative at 1.0 (a model that says seizure to everything): only "above all"
        // reaches the target, and nothing is flagged.
        let chosen = choose(&[1.0, 1.0, 1.0], &[false, false, true], 0.98).unwrap();
        assert!(chosen.value > 1.0);
        assert_eq!(chosen.validation_sensitivity, 0.0);
        assert!(choose(&[0.2, 0.3], &[false, false], 0.98).is_none());
        assert!(choose(&[f64::NAN, 0.3], &[true, false], 0.98).is_none());
    }
}
