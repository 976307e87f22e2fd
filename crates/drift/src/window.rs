//! Fleet-wide drift: the last windows the service scored, compared with the profile.

use std::collections::VecDeque;
use std::time::Instant;

use crate::features::{Features, FEATURES, FEATURE_COUNT};
use crate::profile::Profile;
use crate::stats;

/// The most recent scored windows: the features of those the model called background, and
/// every window's call, each with when it was seen. Each side keeps at most `capacity`;
/// [`DriftWindow::expire`] drops what is too old to describe the input of now.
#[derive(Debug, Clone)]
pub struct DriftWindow {
    capacity: usize,
    background: VecDeque<(Instant, Features)>,
    calls: VecDeque<(Instant, bool)>,
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
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            background: VecDeque::with_capacity(capacity),
            calls: VecDeque::with_capacity(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (a model whose profile was calibrated for another window),
    /// keeping the most recent windows.
    pub fn resize(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.background.len() > self.capacity {
            self.background.pop_front();
        }
        while self.calls.len() > self.capacity {
            self.calls.pop_front();
        }
    }

    /// Adds a window seen at `at`. A window with a non-finite feature is not a measurement
    /// of anything: it is left out (returns false).
    pub fn observe_at(&mut self, at: Instant, features: &Features, called_seizure: bool) -> bool {
        if features.iter().any(|v| !v.is_finite()) {
            return false;
        }
        if !called_seizure {
            if self.background.len() == self.capacity {
                self.background.pop_front();
            }
            self.background.push_back((at, *features));
        }
        if self.calls.len() == self.capacity {
            self.calls.pop_front();
        }
        self.calls.push_back((at, called_seizure));
        true
    }

    /// [`DriftWindow::observe_at`] now.
    pub fn observe(&mut self, features: &Features, called_seizure: bool) -> bool {
        self.observe_at(Instant::now(), features, called_seizure)
    }

    /// Drops the windows seen before `cutoff`.
    pub fn expire(&mut self, cutoff: Instant) {
        while self.background.front().is_some_and(|(at, _)| *at < cutoff) {
            self.background.pop_front();
        }
        while self.calls.front().is_some_and(|(at, _)| *at < cutoff) {
            self.calls.pop_front();
        }
    }

    /// Forgets every window (another model's calls are not comparable).
    pub fn clear(&mut self) {
        self.background.clear();
        self.calls.clear();
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            background: self.background.iter().map(|(_, f)| *f).collect(),
            calls: self.calls.iter().map(|(_, c)| *c).collect(),
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
                wasserstein[j] = stats::wasserstein(&drift.reference[j], &incoming)
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
}
