//! How one raw recording becomes a model input.
//!
//! A recording is 178 consecutive samples. The LSTM reads it as `timesteps` steps of `features`
//! consecutive samples each (row-major), using the first `timesteps * features` samples.
//! 22 x 8 (176 samples) trains several times faster than 178 x 1 for the same accuracy.

use serde::{Deserialize, Serialize};

use crate::SAMPLES_PER_RECORDING;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputLayout {
    pub timesteps: usize,
    pub features: usize,
}

impl Default for InputLayout {
    fn default() -> Self {
        Self {
            timesteps: 22,
            features: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "layout {timesteps} x {features} needs {needed} samples, but a recording has {SAMPLES_PER_RECORDING}"
)]
pub struct LayoutError {
    pub timesteps: usize,
    pub features: usize,
    pub needed: usize,
}

impl InputLayout {
    pub fn new(timesteps: usize, features: usize) -> Result<Self, LayoutError> {
        let needed = timesteps.saturating_mul(features);
        if needed == 0 || needed > SAMPLES_PER_RECORDING {
            return Err(LayoutError {
                timesteps,
                features,
                needed,
            });
        }
        Ok(Self {
            timesteps,
            features,
        })
    }

    /// Samples of each recording the model reads (the rest of the 178 are trimmed).
    pub fn samples_used(&self) -> usize {
        self.timesteps * self.features
    }
}

/// What is subtracted from a window before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Centring {
    /// One mean for every window, fitted on the training split: a constant baseline shift
    /// moves every input (the original behaviour, and what cards without the field mean).
    Global,
    /// Each window's own mean: the input, and so the answer, does not depend on a constant
    /// baseline offset (which carries no clinical information in data band-passed from
    /// 0.53 Hz). The scale is the standard deviation of centred training windows.
    PerWindow,
}

impl Centring {
    /// Cards and manifests written before centring was recorded used the global mean.
    fn legacy() -> Self {
        Centring::Global
    }
}

/// How raw samples become model inputs: centred, then divided by a standard deviation fitted
/// on the training split only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    #[serde(default = "Centring::legacy")]
    pub centring: Centring,
    /// The global mean (0 under [`Centring::PerWindow`], where each window brings its own).
    pub mean: f64,
    pub std: f64,
}

/// Mean of the first `used` samples, in f64 (exact enough for any f32 input).
fn window_mean(window: &[f32]) -> f64 {
    window.iter().map(|&v| f64::from(v)).sum::<f64>() / window.len().max(1) as f64
}

impl Normalisation {
    /// Fits on the samples each recording contributes under `layout`.
    /// `recordings` yields raw recordings of at least `layout.samples_used()` samples.
    pub fn fit<'a>(
        recordings: impl IntoIterator<Item = &'a [f32]>,
        layout: InputLayout,
        centring: Centring,
    ) -> Self {
        let used = layout.samples_used();
        let (mut count, mut sum, mut sum_sq) = (0usize, 0f64, 0f64);
        for recording in recordings {
            let window = &recording[..used];
            let offset = match centring {
                Centring::Global => 0.0,
                Centring::PerWindow => window_mean(window),
            };
            for &v in window {
                let v = f64::from(v) - offset;
                sum += v;
                sum_sq += v * v;
            }
            count += used;
        }
        if count == 0 {
            return Self {
                centring,
                mean: 0.0,
                std: 1.0,
            };
        }
        let mean = match centring {
            Centring::Global => sum / count as f64,
            // Centred windows have mean zero by construction.
            Centring::PerWindow => 0.0,
        };
        let variance = (sum_sq / count as f64 - mean * mean).max(0.0);
        // A constant signal would divide by zero; leave its scale alone instead.
        let std = if variance > 0.0 { variance.sqrt() } else { 1.0 };
        Self {
            centring,
            mean,
            std,
        }
    }

    /// Appends the normalised model input of one raw recording (or window of a continuous
    /// signal, at least `layout.samples_used()` long) to `out`.
    pub fn append_input(&self, recording: &[f32], layout: InputLayout, out: &mut Vec<f32>) {
        let window = &recording[..layout.samples_used()];
        let centre = match self.centring {
            Centring::Global => self.mean,
            Centring::PerWindow => window_mean(window),
        };
        let inv_std = 1.0 / self.std;
        out.extend(
            window
                .iter()
                .map(|&v| ((f64::from(v) - centre) * inv_std) as f32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_must_fit_in_a_recording() {
        assert_eq!(InputLayout::new(22, 8).unwrap().samples_used(), 176);
        assert_eq!(InputLayout::new(178, 1).unwrap().samples_used(), 178);
        assert!(InputLayout::new(0, 8).is_err());
        let err = InputLayout::new(30, 8).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layout 30 x 8 needs 240 samples, but a recording has 178"
        );
    }

    #[test]
    fn normalisation_uses_only_the_samples_the_layout_reads() {
        let mut a = vec![1.0f32; SAMPLES_PER_RECORDING];
        let mut b = vec![3.0f32; SAMPLES_PER_RECORDING];
        // The trimmed tail must not move the statistics.
        a[177] = 1e6;
        b[176] = -1e6;
        let norm = Normalisation::fit(
            [a.as_slice(), b.as_slice()],
            InputLayout::default(),
            Centring::Global,
        );
        assert_eq!(norm.mean, 2.0);
        assert_eq!(norm.std, 1.0);
        let mut out = Vec::new();
        norm.append_input(&b, InputLayout::default(), &mut out);
        assert_eq!(out, vec![1.0; 176]);
    }

    #[test]
    fn constant_signal_keeps_unit_scale() {
        let a = vec![5.0f32; SAMPLES_PER_RECORDING];
        let norm = Normalisation::fit([a.as_slice()], InputLayout::default(), Centring::Global);
        assert_eq!((norm.mean, norm.std), (5.0, 1.0));
    }

    #[test]
    fn per_window_centring_ignores_a_constant_baseline() {
        let layout = InputLayout::default();
        let wave: Vec<f32> = (0..SAMPLES_PER_RECORDING)
            .map(|i| 100.0 * (i as f32 * 0.3).sin() + 40.0)
            .collect();
        let norm = Normalisation::fit([wave.as_slice()], layout, Centring::PerWindow);
        assert_eq!(norm.mean, 0.0);
        let mut reference = Vec::new();
        norm.append_input(&wave, layout, &mut reference);
        let centred_mean = reference.iter().map(|&v| f64::from(v)).sum::<f64>() / 176.0;
        assert!(centred_mean.abs() < 1e-6, "{centred_mean}");
        for shift in [-5_000.0f32, -300.0, 0.5, 300.0, 5_000.0] {
            let shifted: Vec<f32> = wave.iter().map(|&v| v + shift).collect();
            let mut out = Vec::new();
            norm.append_input(&shifted, layout, &mut out);
            let worst = out
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // f32 rounding of the shifted samples themselves is all that is left.
            assert!(worst < 1e-4, "shift {shift}: {worst}");
        }
        // Under the global mean the same shift moves every input by shift / std.
        let global = Normalisation::fit([wave.as_slice()], layout, Centring::Global);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        global.append_input(&wave, layout, &mut a);
        global.append_input(
            &wave.iter().map(|&v| v + 300.0).collect::<Vec<_>>(),
            layout,
            &mut b,
        );
        assert!((b[0] - a[0] - (300.0 / global.std) as f32).abs() < 1e-3);
    }

    #[test]
    fn cards_without_centring_read_as_global() {
        let old: Normalisation = serde_json::from_str(r#"{"mean": 1.5, "std": 2.0}"#).unwrap();
        assert_eq!(old.centring, Centring::Global);
        let new: Normalisation =
            serde_json::from_str(r#"{"centring": "per-window", "mean": 0.0, "std": 2.0}"#).unwrap();
        assert_eq!(new.centring, Centring::PerWindow);
    }
}
