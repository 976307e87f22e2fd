//! Fleet-wide drift: the last windows the service scored, compared with the profile.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::features::{Features, FEATURES, FEATURE_COUNT};
use crate::profile::Profile;
use crate::stats;

/// The most recent scored windows: the features of those the model called background, and
/// every window's call, each with when it was seen and where it came from (a user). Each
/// side keeps at most `capacity`, and at most `share` of one source: a source past its share
/// replaces its own oldest windows, so no one source (one request, one user) moves the
/// statistics by more than its share. [`DriftWindow::expire`] drops what is too old to
/// describe the input of now.
#[derive(Debug, Clone)]
pub struct DriftWindow {
    capacity: usize,
    share: usize,
    background: Side<Features>,
    calls: Side<bool>,
}

/// One side of the window, with the count of each source's entries.
#[derive(Debug, Clone)]
struct Side<T> {
    entries: VecDeque<(Instant, Arc<str>, T)>,
    per_source: HashMap<Arc<str>, usize>,
}

impl<T> Side<T> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity),
            per_source: HashMap::new(),
        }
    }

    fn forget(&mut self, source: &Arc<str>) {
        if let Some(count) = self.per_source.get_mut(source) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(source);
            }
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, source, _)) = self.entries.pop_front() {
            self.forget(&source);
        }
    }

    /// Adds an entry: past `share`, the source's own oldest goes; past `capacity`, the
    /// oldest of all.
    fn push(&mut self, capacity: usize, share: usize, at: Instant, source: &Arc<str>, value: T) {
        if self.per_source.get(source).copied().unwrap_or(0) >= share {
            if let Some(oldest) = self.entries.iter().position(|(_, s, _)| s == source) {
                self.entries.remove(oldest);
                self.forget(source);
            }
        }
        while self.entries.len() >= capacity {
            self.pop_front();
        }
        self.entries.push_back((at, source.clone(), value));
        *self.per_source.entry(source.clone()).or_default() += 1;
    }

    fn trim(&mut self, capacity: usize) {
        while self.entries.len() > capacity {
            self.pop_front();
        }
    }

    fn expire(&mut self, cutoff: Instant) {
        while self.entries.front().is_some_and(|(at, _, _)| *at < cutoff) {
            self.pop_front();
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.per_source.clear();
    }

    fn sources(&self) -> usize {
        self.per_source.len()
    }
}

/// What [`DriftWindow::snapshot`] copies out, to compute on without holding a lock.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub background: Vec<Features>,
    pub calls: Vec<bool>,
    pub capacity: usize,
}

/// The statistics of a full window against a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    /// Per feature ([`FEATURES`] order), the KS statistic and the normalised Wasserstein
    /// distance of the background windows against the reference; `None` until the window
    /// holds `capacity` background windows.
    pub features: Option<FeatureDrift>,
    /// Share of the last `capacity` windows called seizure; `None` until there are that many.
    pub predicted_seizure_rate: Option<f64>,
    pub background_windows: usize,
    pub windows: usize,
    pub capacity: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureDrift {
    pub ks: [f64; FEATURE_COUNT],
    pub wasserstein: [f64; FEATURE_COUNT],
    /// The largest statistic-to-threshold ratio: above 1 is drift.
    pub score: f64,
    /// The feature with the largest ratio.
    pub feature: &'static str,
}

impl DriftWindow {
    /// A window of `capacity`, no source limited (call [`DriftWindow::set_share`]).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            share: capacity,
            background: Side::new(capacity),
            calls: Side::new(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most windows of one source, as a fraction of the capacity (at least one).
    pub fn set_share(&mut self, fraction: f64) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.share = ((self.capacity as f64 * fraction).ceil() as usize).clamp(1, self.capacity);
    }

    /// The most windows of one source.
    pub fn share(&self) -> usize {
        self.share
    }

    /// Changes the capacity (a model whose profile was calibrated for another window),
    /// keeping the most recent windows and the share's fraction.
    pub fn resize(&mut self, capacity: usize) {
        let fraction = self.share as f64 / self.capacity as f64;
        self.capacity = capacity.max(1);
        self.set_share(fraction);
        self.background.trim(self.capacity);
        self.calls.trim(self.capacity);
    }

    /// Adds a window seen at `at` of no particular source.
    pub fn observe_at(&mut self, at: Instant, features: &Features, called_seizure: bool) -> bool {
        self.observe_from(at, "", features, called_seizure)
    }

    /// Adds a window seen at `at` from `source`. A window with a non-finite feature is not a
    /// measurement of anything: it is left out (returns false).
    pub fn observe_from(
        &mut self,
        at: Instant,
        source: &str,
        features: &Features,
        called_seizure: bool,
    ) -> bool {
        if features.iter().any(|v| !v.is_finite()) {
            return false;
        }
        let source: Arc<str> = Arc::from(source);
        if !called_seizure {
            self.background
                .push(self.capacity, self.share, at, &source, *features);
        }
        self.calls
            .push(self.capacity, self.share, at, &source, called_seizure);
        true
    }

    /// [`DriftWindow::observe_at`] now.
    pub fn observe(&mut self, features: &Features, called_seizure: bool) -> bool {
        self.observe_at(Instant::now(), features, called_seizure)
    }

    /// Drops windows seen before `cutoff`.
    pub fn expire(&mut self, cutoff: Instant) {
        self.background.expire(cutoff);
        self.calls.expire(cutoff);
    }

    /// Forgets every window (another model's calls are not comparable).
    pub fn clear(&mut self) {
        self.background.clear();
        self.calls.clear();
    }

    pub fn len(&self) -> usize {
        self.calls.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.entries.is_empty()
    }

    /// Sources with windows in the window now.
    pub fn sources(&self) -> usize {
        self.calls.sources()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            background: self.background.entries.iter().map(|(_, _, f)| *f).collect(),
            calls: self.calls.entries.iter().map(|(_, _, c)| *c).collect(),
            capacity: self.capacity,
        }
    }
}

impl Snapshot {
    /// The statistics against `profile` (a few milliseconds for a window of 1,000).
    pub fn report(&self, profile: &Profile) -> DriftReport {
        let features = (self.background.len() >= self.capacity).then(|| {
            let drift = &profile.drift;
            let mut ks = [0.0; FEATURE_COUNT];
            let mut wasserstein = [0.0; FEATURE_COUNT];
            let (mut score, mut worst) = (0.0f64, 0);
            for j in 0..FEATURE_COUNT {
                let incoming =
                    stats::sorted(&self.background.iter().map(|w| w[j]).collect::<Vec<_>>());
                ks[j] = stats::ks_statistic(&drift.reference[j], &incoming);
                wasserstein[j] = stats::wasserstein_within(&drift.reference[j], &incoming)
                    / drift.reference_std[j].max(1e-12);
                let ratio = (ks[j] / drift.ks_threshold[j])
                    .max(wasserstein[j] / drift.wasserstein_threshold[j]);
                if ratio > score {
                    score = ratio;
                    worst = j;
                }
            }
            FeatureDrift {
                ks,
                wasserstein,
                score,
                feature: FEATURES[worst],
            }
        });
        let predicted_seizure_rate = (self.calls.len() >= self.capacity)
            .then(|| self.calls.iter().filter(|c| **c).count() as f64 / self.calls.len() as f64);
        DriftReport {
            features,
            predicted_seizure_rate,
            background_windows: self.background.len(),
            windows: self.calls.len(),
            capacity: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_latest_and_reports_only_when_full() {
        let mut window = DriftWindow::new(3);
        for i in 0..5 {
            window.observe(&[i as f64; FEATURE_COUNT], i == 4);
        }
        let snapshot = window.snapshot();
        assert_eq!(
            snapshot.background.iter().map(|w| w[0]).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(snapshot.calls, [false, false, true]);
        window.resize(2);
        assert_eq!(window.snapshot().background.len(), 2);
        assert_eq!(window.snapshot().calls, [false, true]);
    }

    #[test]
    fn non_finite_windows_are_left_out_and_old_ones_expire() {
        let mut window = DriftWindow::new(10);
        let start = Instant::now();
        assert!(!window.observe_at(start, &[f64::NAN; FEATURE_COUNT], false));
        let mut infinite = [0.0; FEATURE_COUNT];
        infinite[3] = f64::INFINITY;
        assert!(!window.observe_at(start, &infinite, false));
        assert!(window.is_empty());
        for i in 0..4u64 {
            let at = start + std::time::Duration::from_secs(i);
            assert!(window.observe_at(at, &[i as f64; FEATURE_COUNT], i == 3));
        }
        window.expire(start + std::time::Duration::from_secs(2));
        let snapshot = window.snapshot();
        assert_eq!(
            snapshot.background.iter().map(|w| w[0]).collect::<Vec<_>>(),
            [2.0]
        );
        assert_eq!(snapshot.calls, [false, true]);
        window.clear();
        assert!(window.is_empty() && window.snapshot().background.is_empty());
    }

    #[test]
    fn one_source_holds_at_most_its_share_and_replaces_its_own_oldest() {
        let mut window = DriftWindow::new(10);
        window.set_share(0.3);
        assert_eq!(window.share(), 3);
        let at = Instant::now();
        for i in 0..5 {
            window.observe_from(at, "ada", &[f64::from(i); FEATURE_COUNT], false);
        }
        // Ada's five became her latest three.
        let firsts = |w: &DriftWindow| {
            w.snapshot()
                .background
                .iter()
                .map(|f| f[0])
                .collect::<Vec<_>>()
        };
        assert_eq!(firsts(&window), [2.0, 3.0, 4.0]);
        // A flood from one request (one source) cannot push others out beyond its share.
        for i in 0..3 {
            window.observe_from(at, "bob", &[100.0 + f64::from(i); FEATURE_COUNT], false);
        }
        for i in 0..1_000 {
            window.observe_from(at, "eve", &[-f64::from(i); FEATURE_COUNT], i % 2 == 0);
        }
        let snapshot = window.snapshot();
        assert_eq!(snapshot.calls.len(), 9, "3 each: ada, bob, eve");
        assert_eq!(
            snapshot.calls.iter().filter(|&&c| c).count(),
            1,
            "eve's calls: 3 of 10"
        );
        assert_eq!(window.sources(), 3);
        assert_eq!(
            snapshot.background.iter().filter(|f| f[0] >= 100.0).count(),
            3,
            "bob's windows are still there"
        );
        // Expiry and clearing keep the counts right.
        window.expire(at + std::time::Duration::from_secs(1));
        assert!(window.is_empty());
        assert_eq!(window.sources(), 0);
        window.observe_from(at, "ada", &[1.0; FEATURE_COUNT], false);
        assert_eq!(window.len(), 1);
    }
}
