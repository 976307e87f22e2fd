//! Temperature scaling (Guo et al., 2017): the network's two logits are divided by one number
//! T, fitted on the validation split to minimise the negative log-likelihood. It changes the
//! probabilities (a model sure of everything becomes honest about its doubts), never the
//! ranking: ROC AUC is unchanged, and the decision threshold is chosen after it.

use serde::{Deserialize, Serialize};

/// A fitted temperature, as the model card records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureScaling {
    pub temperature: f64,
    /// Validation negative log-likelihood before (T = 1) and after.
    pub validation_nll_before: f64,
    pub validation_nll_after: f64,
}

/// Mean negative log-likelihood of labels under sigmoid(z / temperature), computed stably.
pub fn nll(logit_differences: &[f32], labels: &[bool], temperature: f64) -> f64 {
    let total: f64 = logit_differences
        .iter()
        .zip(labels)
        .map(|(&z, &label)| {
            let z = f64::from(z) / temperature;
            // -log sigmoid(z) for a seizure, -log sigmoid(-z) otherwise: softplus(-/+z).
            let x = if label { -z } else { z };
            x.max(0.0) + (-x.abs()).exp().ln_1p()
        })
        .sum();
    total / logit_differences.len().max(1) as f64
}

/// The search range of T. Below 1 the model is sharpened; a validation split it separates
/// perfectly would drive T towards 0 (probabilities of exactly 0 and 1), so T stays >= 1/4.
pub const TEMPERATURE_RANGE: (f64, f64) = (0.25, 20.0);

/// Fits T on `logit_differences` (seizure logit minus the other) by golden-section search of
/// log T over [`TEMPERATURE_RANGE`]; None without both classes or with non-finite logits.
pub fn fit(logit_differences: &[f32], labels: &[bool]) -> Option<TemperatureScaling> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0
        || positives == labels.len()
        || logit_differences.iter().any(|z| !z.is_finite())
    {
        return None;
    }
    let loss = |log_t: f64| nll(logit_differences, labels, log_t.exp());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = (TEMPERATURE_RANGE.0.ln(), TEMPERATURE_RANGE.1.ln());
    let mut a = high - ratio * (high - low);
    let mut b = low + ratio * (high - low);
    let (mut fa, mut fb) = (loss(a), loss(b));
    for _ in 0..80 {
        if fa < fb {
            high = b;
            (b, fb) = (a, fa);
            a = high - ratio * (high - low);
            fa = loss(a);
        } else {
            low = a;
            (a, fa) = (b, fb);
            b = low + ratio * (high - low);
            fb = loss(b);
        }
    }
    let temperature = ((low + high) / 2.0).exp();
    Some(TemperatureScaling {
        temperature,
        validation_nll_before: nll(logit_differences, labels, 1.0),
        validation_nll_after: nll(logit_differences, labels, temperature),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overconfident_model_is_cooled_and_a_calibrated_one_left_alone() {
        // Logits drawn so that sigmoid(z_true) is calibrated, then inflated 4x.
        let mut rng = eeg_data::random::Rng::new(9);
        let (mut calibrated, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let z = rng.normal() * 2.0;
            let p = 1.0 / (1.0 + (-z).exp());
            calibrated.push(z as f32);
            labels.push(rng.unit() < p);
        }
        let inflated: Vec<f32> = calibrated.iter().map(|z| z * 4.0).collect();
        let fitted = fit(&inflated, &labels).unwrap();
        assert!((fitted.temperature - 4.0).abs() < 0.5, "{fitted:?}");
        assert!(fitted.validation_nll_after < fitted.validation_nll_before);
        let left = fit(&calibrated, &labels).unwrap();
        assert!((left.temperature - 1.0).abs() < 0.15, "{left:?}");
        assert!(fit(&[1.0, f32::NAN], &[true, false]).is_none());
        assert!(fit(&[1.0, 2.0], &[true, true]).is_none());
    }

    #[test]
    fn nll_is_stable_for_huge_logits() {
        let value = nll(&[1e6, -1e6], &[true, false], 1.0);
        assert!(value.abs() < 1e-9, "{value}");
        let wrong = nll(&[1e6], &[false], 1.0);
        assert!((wrong - 1e6).abs() < 1.0, "{wrong}");
    }
}
