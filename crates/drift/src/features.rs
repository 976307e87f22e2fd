//! What a neurophysiologist reads off one window of EEG: log band powers, line length,
//! variance, amplitude range and the baseline.
//!
//! Band powers come from the one-sided periodogram with a periodic Hann window after removing
//! the mean, as `scipy.signal.periodogram(x, fs, window="hann", detrend="constant",
//! scaling="density")` computes it (a test checks the two agree), summed over the band's
//! frequency bins times the bin width. Positive quantities are logged (natural log, floored at
//! [`LOG_FLOOR`]) so that a gain multiplies into a shift and a flat line stays finite.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// The features, in the order every array of them uses.
pub const FEATURES: [&str; FEATURE_COUNT] = [
    "log_power_delta",
    "log_power_theta",
    "log_power_alpha",
    "log_power_beta",
    "log_power_low_gamma",
    "log_power_above_40hz",
    "log_line_length",
    "log_variance",
    "log_range",
    "mean",
];

pub const FEATURE_COUNT: usize = 10;

/// One window's features, in [`FEATURES`] order.
pub type Features = [f64; FEATURE_COUNT];

/// Frequency bands in Hz, `[low, high)`: delta, theta, alpha, beta, low gamma, and everything
/// above the data's 40 Hz band limit up to Nyquist (mains hum at 50 or 60 Hz, muscle).
pub const BANDS: [(f64, f64); 6] = [
    (0.5, 4.0),
    (4.0, 8.0),
    (8.0, 13.0),
    (13.0, 30.0),
    (30.0, 40.0),
    (40.0, f64::INFINITY),
];

/// The smallest value a logged feature takes: ln(1e-12), about -27.6 (a flat line).
pub const LOG_FLOOR: f64 = 1e-12;

/// Computes [`Features`] of windows of a fixed length. Cheap to share across threads.
#[derive(Clone)]
pub struct FeatureExtractor {
    fft: Arc<dyn RealToComplex<f64>>,
    hann: Vec<f64>,
    /// `(first bin, last bin exclusive)` of each band.
    bins: [(usize, usize); BANDS.len()],
    /// Periodogram density scale times the bin width: 1 / (N * sum(w^2)) * ... (see `new`).
    power_scale: f64,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("window", &self.hann.len())
            .finish()
    }
}

impl FeatureExtractor {
    /// For windows of `len` samples at `sampling_hz` (`len` at least 4).
    pub fn new(len: usize, sampling_hz: f64) -> Self {
        assert!(len >= 4, "a window of at least 4 samples");
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(len);
        let n = len as f64;
        let hann: Vec<f64> = (0..len)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos())
            .collect();
        let bin_width = sampling_hz / n;
        let bins = BANDS.map(|(low, high)| {
            let first = (0..=len / 2)
                .find(|&k| k as f64 * bin_width >= low)
                .unwrap_or(len / 2 + 1);
            let last = (0..=len / 2)
                .find(|&k| k as f64 * bin_width >= high)
                .unwrap_or(len / 2 + 1);
            (first, last.max(first))
        });
        let window_power: f64 = hann.iter().map(|w| w * w).sum();
        // density = |X|^2 / (fs * sum w^2); band power = sum(density) * (fs / N).
        let power_scale = 1.0 / (window_power * n);
        Self {
            fft,
            hann,
            bins,
            power_scale,
        }
    }

    /// For the model's windows: [`eeg_data::SAMPLES_PER_RECORDING`] at
    /// [`eeg_data::SAMPLING_HZ`].
    pub fn for_recordings() -> Self {
        static SHARED: std::sync::OnceLock<FeatureExtractor> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| Self::new(eeg_data::SAMPLES_PER_RECORDING, eeg_data::SAMPLING_HZ))
            .clone()
    }

    pub fn window_len(&self) -> usize {
        self.hann.len()
    }

    /// The features of one window of [`FeatureExtractor::window_len`] finite samples.
    pub fn features(&self, window: &[f32]) -> Features {
        let len = self.hann.len();
        assert_eq!(window.len(), len, "a window of {len} samples");
        let n = len as f64;
        let mean = window.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let mut input: Vec<f64> = window
            .iter()
            .zip(&self.hann)
            .map(|(&v, w)| (f64::from(v) - mean) * w)
            .collect();
        let mut spectrum = vec![Complex::new(0.0, 0.0); len / 2 + 1];
        self.fft
            .process(&mut input, &mut spectrum)
            .expect("buffers of the planned length");
        let nyquist = if len.is_multiple_of(2) {
            Some(len / 2)
        } else {
            None
        };
        let power = |k: usize| {
            let one_sided = if k == 0 || Some(k) == nyquist {
                1.0
            } else {
                2.0
            };
            spectrum[k].norm_sqr() * one_sided * self.power_scale
        };
        let mut features = [0.0; FEATURE_COUNT];
        for (slot, &(first, last)) in features.iter_mut().zip(&self.bins) {
            *slot = log((first..last).map(power).sum());
        }
        let (mut line_length, mut variance) = (0.0, 0.0);
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, &v) in window.iter().enumerate() {
            let v = f64::from(v);
            if i > 0 {
                line_length += (v - f64::from(window[i - 1])).abs();
            }
            variance += (v - mean) * (v - mean);
            low = low.min(v);
            high = high.max(v);
        }
        features[6] = log(line_length);
        features[7] = log(variance / n);
        features[8] = log(high - low);
        features[9] = mean;
        features
    }
}

fn log(value: f64) -> f64 {
    value.max(LOG_FLOOR).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amplitude: f64) -> Vec<f32> {
        (0..178)
            .map(|i| {
                (amplitude
                    * (2.0 * std::f64::consts::PI * hz * i as f64 / eeg_data::SAMPLING_HZ).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn a_sine_puts_its_power_in_its_band() {
        let extractor = FeatureExtractor::for_recordings();
        for (band, hz) in [
            (0, 2.0),
            (1, 6.0),
            (2, 10.5),
            (3, 20.0),
            (4, 35.0),
            (5, 50.0),
        ] {
            let f = extractor.features(&sine(hz, 100.0));
            let strongest = (0..6).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
            assert_eq!(strongest, band, "{hz} Hz: {f:?}");
        }
    }

    #[test]
    fn a_gain_shifts_the_logged_powers_and_a_baseline_only_the_mean() {
        let extractor = FeatureExtractor::for_recordings();
        let x = sine(10.0, 50.0);
        let base = extractor.features(&x);
        let doubled: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
        let shifted: Vec<f32> = x.iter().map(|v| v + 300.0).collect();
        let (d, s) = (extractor.features(&doubled), extractor.features(&shifted));
        for j in 0..9 {
            let expected = if j == 6 || j == 8 {
                2f64.ln()
            } else {
                4f64.ln()
            };
            // (Bands holding only leakage are at the float rounding level: skipped.)
            if base[j] > 0.0 {
                assert!((d[j] - base[j] - expected).abs() < 1e-6, "{}", FEATURES[j]);
                assert!((s[j] - base[j]).abs() < 1e-3, "{}", FEATURES[j]);
            }
        }
        assert!((s[9] - base[9] - 300.0).abs() < 1e-3);
    }

    #[test]
    fn a_flat_line_is_finite_and_at_the_floor() {
        let f = FeatureExtractor::for_recordings().features(&[12.0; 178]);
        assert!(f.iter().all(|v| v.is_finite()));
        assert!((f[7] - LOG_FLOOR.ln()).abs() < 1e-9);
        assert_eq!(f[9], 12.0);
    }
}
