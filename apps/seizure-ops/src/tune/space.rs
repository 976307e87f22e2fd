//! The search space of `seizure-ops tune` and its random sampler.
//!
//! Random search: each trial draws every dimension independently from a seeded generator, so
//! a seed names the same list of trials on every machine. Categorical dimensions are drawn
//! uniformly; the learning rate log-uniformly; dropout and gain augmentation uniformly.

use eeg_data::random::Rng;
use serde::Serialize;
use training::windows::Windows;
use training::FrontEndArg;

/// Layouts (timesteps x samples per step) a trial may use. Each reads at least 176 of the 178
/// samples; 89 x 2 is four times the sequential steps of 22 x 8 (and about as much slower).
pub const LAYOUTS: [(usize, usize); 4] = [(22, 8), (11, 16), (44, 4), (89, 2)];
pub const LSTM_HIDDEN: [usize; 4] = [32, 56, 64, 96];
pub const DENSE_HIDDEN: [usize; 3] = [10, 20, 32];
pub const BATCH_SIZES: [usize; 3] = [16, 32, 64];
pub const LEARNING_RATE: (f64, f64) = (3e-4, 3e-3);
pub const DROPOUT: (f64, f64) = (0.0, 0.5);
pub const AUGMENT_GAIN: (f64, f64) = (0.0, 0.3);

/// One point of the space: what a trial changes in the pipeline's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialConfig {
    pub timesteps: usize,
    pub features: usize,
    pub front_end: &'static str,
    pub lstm_hidden: usize,
    pub dense_hidden: usize,
    pub dropout: f64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub windows: &'static str,
    pub augment_gain: f64,
}

impl TrialConfig {
    /// Draws one configuration.
    pub fn sample(rng: &mut Rng) -> Self {
        let (timesteps, features) = LAYOUTS[rng.below(LAYOUTS.len())];
        let log_lr = rng.range(LEARNING_RATE.0.ln(), LEARNING_RATE.1.ln());
        Self {
            timesteps,
            features,
            front_end: ["frames", "conv"][rng.below(2)],
            lstm_hidden: LSTM_HIDDEN[rng.below(LSTM_HIDDEN.len())],
            dense_hidden: DENSE_HIDDEN[rng.below(DENSE_HIDDEN.len())],
            dropout: round(rng.range(DROPOUT.0, DROPOUT.1), 2),
            learning_rate: round_significant(log_lr.exp(), 2),
            batch_size: BATCH_SIZES[rng.below(BATCH_SIZES.len())],
            windows: ["random", "aligned"][rng.below(2)],
            augment_gain: round(rng.range(AUGMENT_GAIN.0, AUGMENT_GAIN.1), 2),
        }
    }

    /// `count` configurations from `seed`.
    pub fn sample_many(seed: u64, count: usize) -> Vec<Self> {
        let mut rng = Rng::new(seed);
        (0..count).map(|_| Self::sample(&mut rng)).collect()
    }

    pub fn layout_name(&self) -> String {
        format!("{}x{}", self.timesteps, self.features)
    }

    pub fn front_end_arg(&self) -> FrontEndArg {
        match self.front_end {
            "conv" => FrontEndArg::Conv,
            _ => FrontEndArg::Frames,
        }
    }

    pub fn windows_arg(&self) -> Windows {
        match self.windows {
            "aligned" => Windows::Aligned,
            _ => Windows::Random,
        }
    }

    /// The tracker's params of a trial (the tuned dimensions, prefixed `tune_`).
    pub fn params(&self) -> Vec<(String, String)> {
        [
            ("layout", self.layout_name()),
            ("front_end", self.front_end.to_string()),
            ("lstm_hidden", self.lstm_hidden.to_string()),
            ("dense_hidden", self.dense_hidden.to_string()),
            ("dropout", self.dropout.to_string()),
            ("learning_rate", self.learning_rate.to_string()),
            ("batch_size", self.batch_size.to_string()),
            ("windows", self.windows.to_string()),
            ("augment_gain", self.augment_gain.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("tune_{k}"), v))
        .collect()
    }

    /// The configuration as the `data:` and `train:` keys of `params.yaml`.
    pub fn params_yaml(&self) -> String {
        format!(
            "data:\n  timesteps: {}\n  features: {}\ntrain:\n  batch_size: {}\n  \
             learning_rate: {}\n  front_end: {}\n  lstm_hidden: {}\n  dense_hidden: {}\n  \
             dropout: {}\n  windows: {}\n  augment_gain: {}\n",
            self.timesteps,
            self.features,
            self.batch_size,
            self.learning_rate,
            self.front_end,
            self.lstm_hidden,
            self.dense_hidden,
            self.dropout,
            self.windows,
            self.augment_gain,
        )
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn round_significant(value: f64, digits: i32) -> f64 {
    let magnitude = value.abs().log10().floor() as i32;
    round(value, digits - 1 - magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_the_same_trials_and_every_draw_lies_in_the_space() {
        let trials = TrialConfig::sample_many(7, 200);
        assert_eq!(trials, TrialConfig::sample_many(7, 200));
        assert_ne!(trials, TrialConfig::sample_many(8, 200));
        for t in &trials {
            assert!(LAYOUTS.contains(&(t.timesteps, t.features)));
            assert!(t.timesteps * t.features <= 178);
            assert!(LSTM_HIDDEN.contains(&t.lstm_hidden));
            assert!(DENSE_HIDDEN.contains(&t.dense_hidden));
            assert!(BATCH_SIZES.contains(&t.batch_size));
            assert!((DROPOUT.0..=DROPOUT.1).contains(&t.dropout));
            assert!((AUGMENT_GAIN.0..=AUGMENT_GAIN.1).contains(&t.augment_gain));
            assert!(
                (LEARNING_RATE.0 * 0.95..=LEARNING_RATE.1 * 1.05).contains(&t.learning_rate),
                "{}",
                t.learning_rate
            );
        }
        // Every categorical value is drawn at some point in 200 trials.
        for layout in LAYOUTS {
            assert!(trials.iter().any(|t| (t.timesteps, t.features) == layout));
        }
        assert!(trials.iter().any(|t| t.front_end == "conv"));
        assert!(trials.iter().any(|t| t.windows == "aligned"));
        // Log-uniform: about as many rates below the geometric middle as above it.
        let middle = (LEARNING_RATE.0 * LEARNING_RATE.1).sqrt();
        let below = trials.iter().filter(|t| t.learning_rate < middle).count();
        assert!((70..=130).contains(&below), "{below} of 200 below {middle}");
    }

    #[test]
    fn the_params_file_has_the_keys_of_params_yaml() {
        let t = TrialConfig::sample_many(1, 1).remove(0);
        let yaml = t.params_yaml();
        for key in [
            "data:",
            "  timesteps:",
            "  features:",
            "train:",
            "  batch_size:",
            "  learning_rate:",
            "  front_end:",
            "  lstm_hidden:",
            "  dense_hidden:",
            "  dropout:",
            "  windows:",
            "  augment_gain:",
        ] {
            assert!(yaml.contains(key), "{key} missing from\n{yaml}");
        }
        // The repository's params.yaml has every one of these keys too.
        let params = include_str!("../../../../params.yaml");
        for line in yaml.lines() {
            let key = line.split(':').next().unwrap();
            assert!(
                params.lines().any(|l| l.starts_with(&format!("{key}:"))),
                "{key} is not a key of params.yaml"
            );
        }
    }
}
