//! The reference profile of a model's training input, stored beside its weights, and how it
//! is built and calibrated.
//!
//! Built from every window of the training segments (their continuous signals, cut at the
//! model's window length without overlap), with the trained model's call on each:
//!
//! * **OOD**: the robust centre and scale of every window ([`OodReference`]).
//! * **Drift of the background**: the windows the model calls non-seizure. A monitored fleet
//!   is mostly background, while the training segments are 20% seizure: comparing everything
//!   would report a change of prevalence as drift. Comparing what the model calls background
//!   on both sides keeps the statistics on the signal; the prevalence has its own gauge.
//! * **Predicted-seizure rate**: the share of windows the model calls seizure, against the
//!   training segments' base rate.
//!
//! Thresholds are calibrated by permutation, not by convention: the training segments are
//! split (by the seed) into a reference half, stored, and an incoming half; each permutation
//! takes `window` windows from the incoming half a whole segment at a time, in a random
//! segment order (a fleet sends recordings, not independent windows, so neighbouring windows
//! are alike), and computes the statistics against the stored reference; repeated
//! `permutations` times. The calibration is thus conditional on the reference the service
//! uses. Each statistic is divided by its permutation median (floored at 1/window for KS and
//! 0.001 for the normalised Wasserstein distance, so a feature constant in training cannot
//! get a threshold any change exceeds); the threshold on the largest ratio (max-T) is its
//! `1 - alpha` quantile, which bounds the chance that one evaluation on unchanged input from
//! as many sources as the incoming half raises the drift score above 1 at `alpha`, for all 20
//! statistics together. Fewer sources (one patient filling the window) vary more: see
//! docs/drift.md.

use serde::{Deserialize, Serialize};

use crate::features::{Features, FEATURES, FEATURE_COUNT};
use crate::ood::OodReference;
use crate::stats;

pub const PROFILE_FILE: &str = "drift_profile.json";
/// The largest drift window a profile may state.
pub const MAX_WINDOW: usize = 1_000_000;
/// The most reference windows a profile may hold per feature (the real data set's training
/// segments give about 3,000; a profile file is read whole).
pub const MAX_REFERENCE_WINDOWS: usize = 200_000;
/// The largest profile file read (200,000 windows of 10 features as JSON fit).
pub const MAX_PROFILE_BYTES: u64 = 64 * 1024 * 1024;
/// No feature (a log of a power or an amplitude, a mean in µV) comes near this.
pub const MAX_FEATURE_MAGNITUDE: f64 = 1e9;
pub const FORMAT_VERSION: u32 = 1;

/// The most published-recording fingerprints a profile may hold (the UCI data set has
/// 11,500 recordings).
pub const MAX_PUBLISHED_RECORDINGS: usize = 1_000_000;

/// The smallest drift window a profile is built for.
pub const MIN_WINDOW: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub format_version: u32,
    /// [`FEATURES`], checked on load.
    pub features: Vec<String>,
    pub window_samples: usize,
    pub sampling_hz: f64,
    pub ood: OodReference,
    pub drift: DriftReference,
    pub rate: RateReference,
    pub provenance: Provenance,
    /// The fingerprints ([`eeg_data::fingerprint`]) of every recording of the data set the
    /// model was trained from, sorted: public recordings that come back as input are not new
    /// input, and the service leaves them out of its drift window. Empty in profiles of
    /// earlier releases (then only the patient store's own recordings are recognised).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published_recordings: Vec<u64>,
}

/// The background reference and the calibrated thresholds of the drift statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// Incoming background windows compared at a time (the sliding window's size).
    pub window: usize,
    /// Per feature, the reference half's background windows, sorted.
    pub reference: Vec<Vec<f64>>,
    /// Per feature, the reference's standard deviation (Wasserstein distances are divided by
    /// it, as Evidently's normalised Wasserstein distance is).
    pub reference_std: Vec<f64>,
    pub ks_threshold: Vec<f64>,
    pub wasserstein_threshold: Vec<f64>,
}

/// The predicted-seizure rate of the training segments and how high it may go by chance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateReference {
    /// Share of training windows in seizure segments (the base rate).
    pub training_seizure_rate: f64,
    /// Share of training windows the model calls seizure.
    pub predicted_seizure_rate: f64,
    /// The `1 - alpha` quantile of the rate over `window` windows of unchanged data.
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub segments: usize,
    pub windows: usize,
    pub background_windows: usize,
    pub reference_windows: usize,
    pub permutations: usize,
    pub alpha: f64,
    /// The max-T quantile: every threshold is this times the statistic's permutation median.
    pub max_ratio_quantile: f64,
    pub seed: u64,
}

/// The training windows a profile is built from, row-aligned.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub features: Vec<Features>,
    /// Which segment each window was cut from (windows of a segment are drawn together).
    pub segment: Vec<u32>,
    /// The segment's label: seizure or not.
    pub seizure_segment: Vec<bool>,
    /// The trained model's call at its decision threshold.
    pub called_seizure: Vec<bool>,
}

#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The sliding window the service compares (at least [`MIN_WINDOW`]; lowered to what
    /// the training data supports, and recorded).
    pub window: usize,
    pub permutations: usize,
    /// Family-wise false-alarm probability of the drift score on unchanged data.
    pub alpha: f64,
    /// Share of training windows below the OOD threshold.
    pub ood_quantile: f64,
    pub seed: u64,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            window: 1_000,
            permutations: 1_000,
            alpha: 0.01,
            ood_quantile: 0.999,
            seed: 42,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProfileError {
    #[error(
        "too few training windows for a drift profile: {background} called background, \
         {MIN_WINDOW} needed in each half"
    )]
    TooFewWindows { background: usize },
    #[error("the pool's arrays differ in length")]
    Misaligned,
    #[error("a training window has a non-finite feature")]
    NonFinite,
    #[error("invalid drift profile: {0}")]
    Invalid(String),
}

impl Profile {
    /// Builds and calibrates the profile of `pool` (deterministic for a seed).
    pub fn build(pool: &Pool, config: &BuildConfig) -> Result<Self, ProfileError> {
        let n = pool.features.len();
        if pool.segment.len() != n || pool.seizure_segment.len() != n {
            return Err(ProfileError::Misaligned);
        }
        if pool.called_seizure.len() != n {
            return Err(ProfileError::Misaligned);
        }
        if pool.features.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ProfileError::NonFinite);
        }
        let segments = Segments::of(pool);
        let background = pool.called_seizure.iter().filter(|c| !**c).count();
        if background / 2 < MIN_WINDOW || segments.ids.len() < 4 {
            return Err(ProfileError::TooFewWindows { background });
        }
        let ood = OodReference::fit(&pool.features, config.ood_quantile);

        // The stored reference: the background of one fixed half of the segments. The
        // thresholds are calibrated for it (conditionally): every permutation compares it
        // with windows drawn from the other half, as the service compares it with new ones.
        let mut order = segments.ids.clone();
        eeg_data::random::Rng::new(config.seed).shuffle(&mut order);
        let (half, others) = order.split_at(order.len() / 2);
        let reference_rows = segments.background_rows(pool, half);
        let reference: Vec<Vec<f64>> = (0..FEATURE_COUNT)
            .map(|j| stats::sorted(&column(pool, &reference_rows, j)))
            .collect();
        // Draws of at most half the other half's background, so that they differ.
        let other_background = segments.background_rows(pool, others).len();
        let window = config
            .window
            .min(other_background / 2)
            .min(reference_rows.len());
        if window < MIN_WINDOW {
            return Err(ProfileError::TooFewWindows { background });
        }

        let draws = permutation_statistics(pool, &segments, &reference, others, window, config);
        let statistics = 2 * FEATURE_COUNT;
        // Floors: a KS statistic moves in steps of 1/window, and a Wasserstein distance under
        // a thousandth of the reference's spread means nothing; a feature (near) constant in
        // training must not get a threshold any change exceeds.
        let floor = |k: usize| {
            if k.is_multiple_of(2) {
                1.0 / window as f64
            } else {
                1e-3
            }
        };
        let medians: Vec<f64> = (0..statistics)
            .map(|k| {
                let column = stats::sorted(&draws.iter().map(|d| d.0[k]).collect::<Vec<_>>());
                stats::quantile(&column, 0.5).max(floor(k))
            })
            .collect();
        let ratios = stats::sorted(
            &draws
                .iter()
                .map(|d| {
                    (0..statistics)
                        .map(|k| d.0[k] / medians[k])
                        .fold(0.0, f64::max)
                })
                .collect::<Vec<_>>(),
        );
        let max_ratio_quantile = stats::quantile(&ratios, 1.0 - config.alpha);
        let rates = stats::sorted(&draws.iter().map(|d| d.1).collect::<Vec<_>>());

        let reference_std = reference.iter().map(|c| stats::std_dev(c)).collect();
        let share = |flags: &[bool]| flags.iter().filter(|f| **f).count() as f64 / n as f64;
        Ok(Self {
            format_version: FORMAT_VERSION,
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            window_samples: eeg_data::SAMPLES_PER_RECORDING,
            sampling_hz: eeg_data::SAMPLING_HZ,
            ood,
            drift: DriftReference {
                window,
                reference_std,
                ks_threshold: (0..FEATURE_COUNT)
                    .map(|j| (max_ratio_quantile * medians[2 * j]).min(1.0))
                    .collect(),
                wasserstein_threshold: (0..FEATURE_COUNT)
                    .map(|j| max_ratio_quantile * medians[2 * j + 1])
                    .collect(),
                reference,
            },
            rate: RateReference {
                training_seizure_rate: share(&pool.seizure_segment),
                predicted_seizure_rate: share(&pool.called_seizure),
                threshold: stats::quantile(&rates, 1.0 - config.alpha),
            },
            provenance: Provenance {
                segments: segments.ids.len(),
                windows: n,
                background_windows: background,
                reference_windows: reference_rows.len(),
                permutations: draws.len(),
                alpha: config.alpha,
                max_ratio_quantile,
                seed: config.seed,
            },
            published_recordings: Vec::new(),
        })
    }

    /// Whether a recording with this fingerprint is one of the data set's (see
    /// [`Profile::published_recordings`]).
    pub fn is_published(&self, fingerprint: u64) -> bool {
        self.published_recordings
            .binary_search(&fingerprint)
            .is_ok()
    }

    /// Checks a profile read from a file: the features this build computes, finite
    /// references, positive thresholds, sorted columns.
    pub fn check(&self) -> Result<(), ProfileError> {
        let fail = |m: &str| Err(ProfileError::Invalid(m.to_owned()));
        if self.format_version != FORMAT_VERSION {
            return fail("unsupported format version");
        }
        if self.features.iter().map(String::as_str).ne(FEATURES) {
            return fail("its features are not the ones this build computes");
        }
        if self.window_samples != eeg_data::SAMPLES_PER_RECORDING
            || (self.sampling_hz - eeg_data::SAMPLING_HZ).abs() > 1e-9
        {
            return fail("made for another window length or sampling rate");
        }
        let d = &self.drift;
        let per_feature = [
            &self.ood.centre,
            &self.ood.scale,
            &d.reference_std,
            &d.ks_threshold,
            &d.wasserstein_threshold,
        ];
        if per_feature.iter().any(|v| v.len() != FEATURE_COUNT)
            || d.reference.len() != FEATURE_COUNT
        {
            return fail("a per-feature array has the wrong length");
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !per_feature.iter().all(|v| finite(v)) || !self.ood.threshold.is_finite() {
            return fail("a non-finite value");
        }
        let positive = |v: &[f64]| v.iter().all(|x| *x > 0.0);
        if !positive(&self.ood.scale) || !positive(&d.ks_threshold) {
            return fail("a scale or threshold is not positive");
        }
        if !positive(&d.wasserstein_threshold) || !positive(&[self.ood.threshold]) {
            return fail("a scale or threshold is not positive");
        }
        if !positive(&d.reference_std) {
            return fail("a reference standard deviation is not positive");
        }
        // A KS statistic is at most 1: a larger threshold is not a calibration's. (1 itself is:
        // a feature whose permutation draws already differ completely, as on a tiny synthetic
        // data set, cannot signal drift by KS.)
        if d.ks_threshold.iter().any(|t| *t > 1.0) {
            return fail("a KS threshold above 1");
        }
        if d.window < MIN_WINDOW || d.window > MAX_WINDOW {
            return fail("the drift window is out of range");
        }
        // Features are logs of powers and amplitudes, and a mean in µV: anything near the
        // range of f64 is not a feature (and would overflow the distances).
        let bounded = |v: &[f64]| v.iter().all(|x| x.abs() <= MAX_FEATURE_MAGNITUDE);
        if !per_feature.iter().all(|v| bounded(v)) || !bounded(&[self.ood.threshold]) {
            return fail("a value beyond any feature's range");
        }
        let rows = self.provenance.reference_windows;
        if rows < d.window || rows > MAX_REFERENCE_WINDOWS {
            return fail("the reference holds fewer windows than the drift window, or too many");
        }
        for column in &d.reference {
            if column.len() != rows
                || !finite(column)
                || !bounded(column)
                || column.windows(2).any(|p| p[0] > p[1])
            {
                return fail(
                    "a reference column is not the stated length, non-finite, out of range or unsorted",
                );
            }
        }
        let r = &self.rate;
        let rates = [
            r.training_seizure_rate,
            r.predicted_seizure_rate,
            r.threshold,
        ];
        if !rates.iter().all(|x| (0.0..=1.0).contains(x)) {
            return fail("a rate outside [0, 1]");
        }
        let published = &self.published_recordings;
        if published.len() > MAX_PUBLISHED_RECORDINGS || published.windows(2).any(|p| p[0] >= p[1])
        {
            return fail("the published recordings' fingerprints are too many or not sorted");
        }
        Ok(())
    }

    /// Reads and checks a profile file.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let profile: Self =
            serde_json::from_str(text).map_err(|e| ProfileError::Invalid(e.to_string()))?;
        profile.check()?;
        Ok(profile)
    }
}

/// The windows of each segment.
struct Segments {
    ids: Vec<u32>,
    rows: std::collections::BTreeMap<u32, Vec<usize>>,
}

impl Segments {
    fn of(pool: &Pool) -> Self {
        let mut rows: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (row, &segment) in pool.segment.iter().enumerate() {
            rows.entry(segment).or_default().push(row);
        }
        Self {
            ids: rows.keys().copied().collect(),
            rows,
        }
    }

    fn background_rows(&self, pool: &Pool, segments: &[u32]) -> Vec<usize> {
        segments
            .iter()
            .flat_map(|s| &self.rows[s])
            .copied()
            .filter(|&row| !pool.called_seizure[row])
            .collect()
    }
}

fn column(pool: &Pool, rows: &[usize], j: usize) -> Vec<f64> {
    rows.iter().map(|&row| pool.features[row][j]).collect()
}

/// One permutation's statistics (KS and normalised Wasserstein per feature, interleaved)
/// and predicted-seizure rate.
struct Draw([f64; 2 * FEATURE_COUNT], f64);

fn permutation_statistics(
    pool: &Pool,
    segments: &Segments,
    reference: &[Vec<f64>],
    others: &[u32],
    window: usize,
    config: &BuildConfig,
) -> Vec<Draw> {
    let reference_std: Vec<f64> = reference.iter().map(|c| stats::std_dev(c)).collect();
    let one = |p: usize| {
        let mut rng = eeg_data::random::Rng::new(config.seed ^ ((p as u64 + 1) * 0x9E37_79B9));
        let mut incoming = others.to_vec();
        rng.shuffle(&mut incoming);
        let mut incoming_rows = segments.background_rows(pool, &incoming);
        incoming_rows.truncate(window);
        let mut all_rows: Vec<usize> = incoming
            .iter()
            .flat_map(|s| &segments.rows[s])
            .copied()
            .collect();
        all_rows.truncate(window);
        let mut statistics = [0.0; 2 * FEATURE_COUNT];
        for j in 0..FEATURE_COUNT {
            let b = stats::sorted(&column(pool, &incoming_rows, j));
            statistics[2 * j] = stats::ks_statistic(&reference[j], &b);
            statistics[2 * j + 1] =
                stats::wasserstein_within(&reference[j], &b) / reference_std[j].max(1e-12);
        }
        let rate = all_rows.iter().filter(|&&r| pool.called_seizure[r]).count() as f64
            / all_rows.len().max(1) as f64;
        Draw(statistics, rate)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = config.permutations.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..config.permutations)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(config.permutations);
                scope.spawn(move || (start..end).map(one).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a permutation worker"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_profile() -> Profile {
        let mut rng = eeg_data::random::Rng::new(7);
        let mut pool = Pool::default();
        for segment in 0..8u32 {
            for _ in 0..60 {
                let mut features = [0.0; FEATURE_COUNT];
                for f in &mut features {
                    *f = rng.normal();
                }
                pool.features.push(features);
                pool.segment.push(segment);
                pool.seizure_segment.push(false);
                pool.called_seizure.push(false);
            }
        }
        let config = BuildConfig {
            window: 100,
            permutations: 50,
            ..BuildConfig::default()
        };
        Profile::build(&pool, &config).unwrap()
    }

    #[test]
    fn published_recordings_are_optional_sorted_and_found() {
        let mut profile = small_profile();
        // A profile of an earlier release has none: it loads and recognises nothing.
        let text = serde_json::to_string(&profile).unwrap();
        assert!(!text.contains("published_recordings"));
        let loaded = Profile::from_json(&text).unwrap();
        assert!(!loaded.is_published(0));
        profile.published_recordings = vec![3, 17, u64::MAX];
        let loaded = Profile::from_json(&serde_json::to_string(&profile).unwrap()).unwrap();
        assert!(loaded.is_published(17) && loaded.is_published(u64::MAX));
        assert!(!loaded.is_published(4));
        // Unsorted or repeated: refused, not searched wrongly.
        for bad in [vec![17, 3], vec![3, 3]] {
            profile.published_recordings = bad;
            let text = serde_json::to_string(&profile).unwrap();
            assert!(matches!(
                Profile::from_json(&text),
                Err(ProfileError::Invalid(m)) if m.contains("published")
            ));
        }
    }
}
