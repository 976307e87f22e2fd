//! Out-of-distribution score of one window: how many robust standard deviations its most
//! unusual feature lies from the training windows' median.
//!
//! Per feature, `z = (x - median) / (IQR / 1.349)` (the IQR of a normal distribution is 1.349
//! standard deviations); the score is the largest `|z|` over the features, and a window is
//! flagged above the training windows' own 99.9th percentile of that score. One window cannot
//! show a shift that stays within the training range (gain x2 does not flag a window; the
//! fleet-wide drift statistics see it): the score flags input unlike any training window,
//! such as a flat line or a baseline offset; a gain of 10 only half the time (a loud window
//! looks like a training seizure window) and 20 µV of mains hum not at all (docs/drift.md).

use serde::{Deserialize, Serialize};

use crate::features::{Features, FEATURES, FEATURE_COUNT};
use crate::stats;

/// The smallest robust scale: a feature constant in training does not divide by zero.
const SCALE_FLOOR: f64 = 1e-6;

/// The per-feature centre and scale, and the flagging threshold, from the training windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodReference {
    /// Median of each feature ([`FEATURES`] order).
    pub centre: Vec<f64>,
    /// IQR / 1.349 of each feature.
    pub scale: Vec<f64>,
    /// Windows scoring above this are flagged.
    pub threshold: f64,
    /// The quantile of the training windows' scores the threshold is.
    pub quantile: f64,
}

/// One window's score and the feature that set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OodScore {
    pub score: f64,
    /// Index into [`FEATURES`].
    pub feature: usize,
    pub flagged: bool,
}

impl OodScore {
    pub fn feature_name(&self) -> &'static str {
        FEATURES[self.feature]
    }
}

impl OodReference {
    /// Fits the centre and scale on `windows` and sets the threshold at their `quantile`.
    pub fn fit(windows: &[Features], quantile: f64) -> Self {
        let mut centre = Vec::with_capacity(FEATURE_COUNT);
        let mut scale = Vec::with_capacity(FEATURE_COUNT);
        for j in 0..FEATURE_COUNT {
            let column = stats::sorted(&windows.iter().map(|w| w[j]).collect::<Vec<_>>());
            centre.push(stats::quantile(&column, 0.5));
            let iqr = stats::quantile(&column, 0.75) - stats::quantile(&column, 0.25);
            scale.push((iqr / 1.349).max(SCALE_FLOOR));
        }
        let mut reference = Self {
            centre,
            scale,
            threshold: f64::INFINITY,
            quantile,
        };
        let scores = stats::sorted(
            &windows
                .iter()
                .map(|w| reference.score(w).score)
                .collect::<Vec<_>>(),
        );
        reference.threshold = stats::quantile(&scores, quantile);
        reference
    }

    pub fn score(&self, window: &Features) -> OodScore {
        let mut best = OodScore {
            score: 0.0,
            feature: 0,
            flagged: false,
        };
        for (j, value) in window.iter().enumerate() {
            let z = ((value - self.centre[j]) / self.scale[j]).abs();
            if z > best.score {
                best.score = z;
                best.feature = j;
            }
        }
        best.flagged = best.score > self.threshold;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_flags_the_chosen_share_of_training_windows() {
        let mut rng = eeg_data::random::Rng::new(3);
        let windows: Vec<Features> = (0..10_000)
            .map(|_| std::array::from_fn(|_| rng.normal()))
            .collect();
        let reference = OodReference::fit(&windows, 0.99);
        let flagged = windows
            .iter()
            .filter(|w| reference.score(w).flagged)
            .count();
        assert!((90..=110).contains(&flagged), "{flagged}");
        let mut far = windows[0];
        far[4] = 50.0;
        let score = reference.score(&far);
        assert!(score.flagged);
        assert_eq!(score.feature_name(), FEATURES[4]);
    }
}
