//! Where each training row's model input comes from, epoch by epoch.
//!
//! A training row is one (segment, chunk) that balancing kept. Under [`Windows::Aligned`] its
//! input is the chunk itself, as the data set cut it; under [`Windows::Random`] it is a window
//! of the same length cut from its segment's continuous signal at an offset drawn afresh every
//! epoch, so the network never learns where the data set happened to cut. Either way the class
//! balance and the weight of each segment stay those of the balanced rows. Augmentation
//! (random gain, white noise) works on the raw samples before normalisation, as a different
//! amplifier would; the card's normalisation then turns the window into the model input, the
//! same code that serves it.

use eeg_data::layout::{InputLayout, Normalisation};
use eeg_data::processed::{Signals, SplitArrays, SIGNAL_SAMPLES};
use eeg_data::random::Rng;
use eeg_data::SAMPLES_PER_RECORDING;

/// Where training windows start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windows {
    /// At the data set's chunk boundaries (the original behaviour).
    Aligned,
    /// Anywhere in the segment's continuous signal, drawn afresh every epoch.
    Random,
}

impl Windows {
    pub const ALL: [Self; 2] = [Self::Aligned, Self::Random];

    pub fn name(self) -> &'static str {
        match self {
            Windows::Aligned => "aligned",
            Windows::Random => "random",
        }
    }
}

impl std::str::FromStr for Windows {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| format!("no window placement {name:?}: aligned or random"))
    }
}

/// Perturbations of the raw training windows, drawn per window and epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// The gain is uniform in `[1 - gain, 1 + gain]` (0: none).
    pub gain: f64,
    /// Standard deviation of added white noise, in the data's units (0: none).
    pub noise: f64,
}

impl Augmentation {
    pub const NONE: Self = Self {
        gain: 0.0,
        noise: 0.0,
    };

    pub fn is_none(&self) -> bool {
        self.gain == 0.0 && self.noise == 0.0
    }

    /// Itself, if its gain lies in [0, 1) and its noise is a finite number >= 0.
    pub fn checked(self) -> Result<Self, WindowsError> {
        if !(0.0..1.0).contains(&self.gain) {
            return Err(WindowsError::Gain(self.gain));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(WindowsError::Noise(self.noise));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowsError {
    #[error("--augment-gain must lie in [0, 1), got {0}")]
    Gain(f64),
    #[error("--augment-noise must be a finite number >= 0, got {0}")]
    Noise(f64),
    #[error(
        "random windows and augmentation need the training segments' continuous signals, \
         but {0}"
    )]
    NoSignals(String),
}

/// The training rows and what their windows are cut from.
pub struct TrainingWindows<'a> {
    x: &'a [f32],
    y: Vec<i64>,
    row_len: usize,
    /// Per row: the signal row of its segment and the chunk's start in it, if whole.
    sources: Vec<Option<(usize, usize)>>,
    signals: Option<&'a Signals>,
    layout: InputLayout,
    normalisation: Normalisation,
    windows: Windows,
    augmentation: Augmentation,
}

impl<'a> TrainingWindows<'a> {
    /// `signals` are the training split's continuous signals; they may be `None` only for
    /// aligned windows without augmentation (the rows' stored inputs are then used as they
    /// are: the same values, cut and normalised by the same code at preprocessing).
    pub fn new(
        split: &'a SplitArrays,
        signals: Option<&'a Signals>,
        segments: usize,
        normalisation: Normalisation,
        windows: Windows,
        augmentation: Augmentation,
    ) -> Result<Self, WindowsError> {
        let augmentation = augmentation.checked()?;
        let shape = split.x.shape();
        let layout = InputLayout {
            timesteps: shape[1],
            features: shape[2],
        };
        let signals = signals.filter(|s| !s.is_empty());
        if signals.is_none() && (windows == Windows::Random || !augmentation.is_none()) {
            return Err(WindowsError::NoSignals(
                "the dataset has none (written by an older preprocessing?)".into(),
            ));
        }
        let sources = match signals {
            None => vec![None; split.rows()],
            Some(s) => {
                let row_of = s.row_of_segment(segments);
                split
                    .segment
                    .iter()
                    .zip(&split.chunk)
                    .map(|(&segment, &chunk)| {
                        let row = row_of.get(segment as usize).copied().flatten()?;
                        Some((row, (usize::from(chunk) - 1) * SAMPLES_PER_RECORDING))
                    })
                    .collect()
            }
        };
        Ok(Self {
            x: split
                .x
                .as_slice()
                .expect("arrays read from .npy are contiguous"),
            y: split.y.iter().map(|&v| i64::from(v)).collect(),
            row_len: layout.samples_used(),
            sources,
            signals,
            layout,
            normalisation,
            windows,
            augmentation,
        })
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn layout(&self) -> InputLayout {
        self.layout
    }

    /// The model inputs and labels of `indices`, drawing offsets and augmentation from `rng`.
    pub fn gather(&self, indices: &[usize], rng: &mut Rng) -> (Vec<f32>, Vec<i64>) {
        let mut x = Vec::with_capacity(indices.len() * self.row_len);
        let mut window = Vec::with_capacity(self.row_len);
        for &i in indices {
            match (self.signals, self.sources[i]) {
                (Some(signals), Some((row, chunk_start))) => {
                    let start = match self.windows {
                        Windows::Aligned => chunk_start,
                        Windows::Random => rng.below(SIGNAL_SAMPLES - self.row_len + 1),
                    };
                    let signal = signals.samples.row(row);
                    let signal = signal.as_slice().expect("rows of a standard array");
                    window.clear();
                    window.extend_from_slice(&signal[start..start + self.row_len]);
                    self.augment(&mut window, rng);
                    self.normalisation
                        .append_input(&window, self.layout, &mut x);
                }
                // A segment missing a chunk has no signal: its rows stay as the data set cut
                // them.
                _ => x.extend_from_slice(&self.x[i * self.row_len..(i + 1) * self.row_len]),
            }
        }
        (x, indices.iter().map(|&i| self.y[i]).collect())
    }

    fn augment(&self, window: &mut [f32], rng: &mut Rng) {
        let Augmentation { gain, noise } = self.augmentation;
        if gain > 0.0 {
            let g = rng.range(1.0 - gain, 1.0 + gain) as f32;
            window.iter_mut().for_each(|v| *v *= g);
        }
        if noise > 0.0 {
            window
                .iter_mut()
                .for_each(|v| *v += (rng.normal() * noise) as f32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eeg_data::layout::Centring;
    use ndarray::{Array1, Array2, Array3};

    /// Two segments of a ramp signal (segment s, sample i has value 10000 s + i), and two
    /// training rows: segment 0 chunk 3 and segment 1 chunk 1.
    fn fixture() -> (SplitArrays, Signals) {
        let samples = Array2::from_shape_fn((2, SIGNAL_SAMPLES), |(s, i)| (10_000 * s + i) as f32);
        let signals = Signals {
            samples,
            segment: Array1::from(vec![0, 1]),
            y: Array1::from(vec![1, 0]),
        };
        let layout = InputLayout::default();
        let norm = Normalisation {
            centring: Centring::Global,
            mean: 0.0,
            std: 1.0,
        };
        let mut x = Vec::new();
        for (s, chunk) in [(0usize, 3usize), (1, 1)] {
            let start = (chunk - 1) * SAMPLES_PER_RECORDING;
            norm.append_input(
                &signals.samples.row(s).as_slice().unwrap()[start..],
                layout,
                &mut x,
            );
        }
        let split = SplitArrays {
            x: Array3::from_shape_vec((2, layout.timesteps, layout.features), x).unwrap(),
            y: Array1::from(vec![1, 0]),
            class: Array1::from(vec![1, 3]),
            segment: Array1::from(vec![0, 1]),
            chunk: Array1::from(vec![3, 1]),
        };
        (split, signals)
    }

    fn identity() -> Normalisation {
        Normalisation {
            centring: Centring::Global,
            mean: 0.0,
            std: 1.0,
        }
    }

    /// The fixture's two rows, cut from its signals with `windows` and `augmentation`.
    fn cut_from<'a>(
        split: &'a SplitArrays,
        signals: &'a Signals,
        windows: Windows,
        augmentation: Augmentation,
    ) -> TrainingWindows<'a> {
        TrainingWindows::new(split, Some(signals), 2, identity(), windows, augmentation).unwrap()
    }

    #[test]
    fn aligned_windows_from_signals_equal_the_stored_rows() {
        let (split, signals) = fixture();
        let stored = TrainingWindows::new(
            &split,
            None,
            2,
            identity(),
            Windows::Aligned,
            Augmentation::NONE,
        )
        .unwrap();
        let mut rng = Rng::new(1);
        let (x, y) = stored.gather(&[1, 0], &mut rng);
        assert_eq!(y, vec![0, 1]);
        assert_eq!(x[0], 10_000.0);
        assert_eq!(x[176], 2.0 * 178.0);
        // Cut from the signals and normalised here: the same inputs.
        let cut = cut_from(
            &split,
            &signals,
            Windows::Aligned,
            Augmentation {
                gain: 0.0,
                noise: 0.0,
            },
        );
        assert_eq!(cut.gather(&[1, 0], &mut rng).0, x);
    }

    #[test]
    fn random_windows_are_contiguous_in_the_rows_segment_and_vary_by_epoch() {
        let (split, signals) = fixture();
        let windows = cut_from(&split, &signals, Windows::Random, Augmentation::NONE);
        let mut rng = Rng::new(7);
        let mut starts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (x, y) = windows.gather(&[0, 1], &mut rng);
            assert_eq!(y, vec![1, 0]);
            for (row, window) in x.chunks_exact(176).enumerate() {
                let base = 10_000.0 * row as f32;
                let start = window[0] - base;
                assert!((0.0..=(SIGNAL_SAMPLES - 176) as f32).contains(&start));
                for (k, &v) in window.iter().enumerate() {
                    assert_eq!(v, base + start + k as f32, "one contiguous cut");
                }
                starts.insert(start as usize);
            }
        }
        assert!(
            starts.len() > 300,
            "offsets are drawn afresh: {}",
            starts.len()
        );
        // Seeded: the same draws again.
        let (a, _) = windows.gather(&[0, 1], &mut Rng::new(3));
        let (b, _) = windows.gather(&[0, 1], &mut Rng::new(3));
        assert_eq!(a, b);
    }

    #[test]
    fn augmentation_scales_and_perturbs_the_raw_window() {
        let (split, signals) = fixture();
        let gain_only = cut_from(
            &split,
            &signals,
            Windows::Aligned,
            Augmentation {
                gain: 0.3,
                noise: 0.0,
            },
        );
        let mut rng = Rng::new(9);
        for _ in 0..50 {
            let (x, _) = gain_only.gather(&[1], &mut rng);
            let g = x[0] / 10_000.0;
            assert!((0.7..=1.3).contains(&g), "{g}");
            assert!(
                (x[100] / (10_100.0) - g).abs() < 1e-5,
                "one gain per window"
            );
        }
        let noisy = cut_from(
            &split,
            &signals,
            Windows::Aligned,
            Augmentation {
                gain: 0.0,
                noise: 5.0,
            },
        );
        let (x, _) = noisy.gather(&[1], &mut rng);
        let residual: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(k, &v)| f64::from(v) - (10_000.0 + k as f64))
            .collect();
        let sd = (residual.iter().map(|r| r * r).sum::<f64>() / 176.0).sqrt();
        assert!((3.5..6.5).contains(&sd), "noise sd {sd}");
    }

    #[test]
    fn bad_settings_and_missing_signals_are_clear_errors() {
        let (split, _) = fixture();
        let make = |windows, augmentation| {
            TrainingWindows::new(&split, None, 2, identity(), windows, augmentation)
                .err()
                .map(|e| e.to_string())
        };
        assert!(make(Windows::Random, Augmentation::NONE)
            .unwrap()
            .contains("continuous signals"));
        let bad_gain = Augmentation {
            gain: 1.0,
            noise: 0.0,
        };
        assert!(make(Windows::Aligned, bad_gain).unwrap().contains("[0, 1)"));
        let bad_noise = Augmentation {
            gain: 0.0,
            noise: f64::NAN,
        };
        assert!(make(Windows::Aligned, bad_noise)
            .unwrap()
            .contains("--augment-noise"));
    }
}
