//! Calibration: whether a probability of 0.8 means seizure about 8 times in 10. Clinicians read
//! the probability, not only the class.
//!
//! * Brier score: the mean squared difference between probability and outcome (0 is perfect).
//! * Expected calibration error (ECE): probabilities grouped into equal-width bins; the
//!   count-weighted mean of |mean predicted - observed seizure rate| per bin.
//! * The reliability diagram plots each bin's (mean predicted, observed rate).

use serde::Serialize;

/// Equal-width bins on [0, 1].
pub const BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    /// Mean predicted probability in the bin (NaN when empty).
    pub mean_predicted: f64,
    /// Fraction of seizures in the bin (NaN when empty).
    pub observed: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub brier: f64,
    pub expected_calibration_error: f64,
    pub bins: Vec<Bin>,
}

impl Calibration {
    /// The reliability diagram's points: non-empty bins.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.mean_predicted, b.observed))
            .collect()
    }
}

/// Calibration of probabilities `scores` against `labels`; NaN figures if any score is not a
/// probability.
pub fn of(scores: &[f64], labels: &[bool]) -> Calibration {
    let valid = !scores.is_empty() && scores.iter().all(|s| (0.0..=1.0).contains(s));
    let mut sums = vec![(0usize, 0.0f64, 0usize); BINS];
    let mut squared = 0.0;
    for (&p, &label) in scores.iter().zip(labels) {
        let y = if label { 1.0 } else { 0.0 };
        squared += (p - y) * (p - y);
        if valid {
            let bin = ((p * BINS as f64) as usize).min(BINS - 1);
            sums[bin].0 += 1;
            sums[bin].1 += p;
            sums[bin].2 += usize::from(label);
        }
    }
    let n = scores.len() as f64;
    let bins: Vec<Bin> = sums
        .iter()
        .enumerate()
        .map(|(i, &(count, predicted, seizures))| Bin {
            low: i as f64 / BINS as f64,
            high: (i + 1) as f64 / BINS as f64,
            count,
            mean_predicted: predicted / count as f64,
            observed: seizures as f64 / count as f64,
        })
        .collect();
    let ece = bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| b.count as f64 / n * (b.mean_predicted - b.observed).abs())
        .sum();
    Calibration {
        brier: if valid { squared / n } else { f64::NAN },
        expected_calibration_error: if valid { ece } else { f64::NAN },
        bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brier_and_ece_match_hand_computation() {
        // Bin 0.8..0.9: 0.8, 0.8, 0.8, 0.8 with 3 seizures: |0.8 - 0.75| = 0.05.
        // Bin 0.1..0.2: 0.1, 0.1 with none: |0.1 - 0| = 0.1.
        let scores = [0.8, 0.8, 0.8, 0.8, 0.1, 0.1];
        let labels = [true, true, true, false, false, false];
        let c = of(&scores, &labels);
        let brier = (3.0 * 0.04 + 0.64 + 2.0 * 0.01) / 6.0;
        assert!((c.brier - brier).abs() < 1e-12, "{}", c.brier);
        let ece = 4.0 / 6.0 * 0.05 + 2.0 / 6.0 * 0.1;
        assert!((c.expected_calibration_error - ece).abs() < 1e-12);
        assert_eq!(c.points().len(), 2);
        assert_eq!(c.bins[8].count, 4);
        // A probability of exactly 1 falls in the last bin.
        assert_eq!(of(&[1.0], &[true]).bins[BINS - 1].count, 1);
    }

    #[test]
    fn perfectly_calibrated_and_invalid_scores() {
        // Half of the 0.5s are seizures: ECE 0.
        let c = of(&[0.5, 0.5, 0.5, 0.5], &[true, false, true, false]);
        assert!(c.expected_calibration_error.abs() < 1e-12);
        assert!((c.brier - 0.25).abs() < 1e-12);
        let nan = of(&[f64::NAN, 0.5], &[true, false]);
        assert!(nan.brier.is_nan() && nan.expected_calibration_error.is_nan());
    }
}
