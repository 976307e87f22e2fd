//! Drift of the incoming signal, fleet-wide on this replica: the windows of incoming signals
//! the service scores (`POST /predict`, `infer`, and the non-overlapping windows of live
//! monitoring sessions; not the patient store's, which is not new input) go into one sliding
//! window, compared with the serving model's profile at every Prometheus scrape. See
//! `drift::profile` for the statistics and their calibration, and docs/drift.md.
//!
//! Against poisoning and masking (docs/hardening.md): each user holds at most a share of the
//! window (`DRIFT_MAX_USER_SHARE`; past it, their own oldest windows go), and recordings of
//! the patient store and of the data set the model was trained from (its profile's
//! published recordings) posted back, as requests or in a live session, are not new input:
//! an exact match of their samples leaves them out. The store's fingerprints are taken once
//! per store; the data set's come with the profile.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drift::{DriftWindow, FeatureExtractor, Features, Profile, FEATURES};
use eeg_data::fingerprint::fingerprint;
use prometheus::{Gauge, GaugeVec, IntCounterVec, Opts};

use crate::model::LoadedModel;

/// The fingerprints of every recording of the store (a few thousand; an unreadable patient
/// is skipped and logged).
fn store_fingerprints(store: &patient_store::PatientStore) -> HashSet<u64> {
    let mut fingerprints = HashSet::new();
    for id in store.patient_ids() {
        match store.get(id) {
            Ok(Some(patient)) => fingerprints.extend(
                patient
                    .samples
                    .chunks_exact(eeg_data::SAMPLES_PER_RECORDING)
                    .map(fingerprint),
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                patient = id,
                "cannot fingerprint a patient's recordings: {e}"
            ),
        }
    }
    fingerprints
}

/// Whether a recording with this fingerprint is known: one of the data set's (the profile's)
/// or of the patient store's.
fn knows(profile: &Profile, store: Option<&HashSet<u64>>, fingerprint: u64) -> bool {
    profile.is_published(fingerprint) || store.is_some_and(|s| s.contains(&fingerprint))
}

/// The sliding window, sized by the serving model's profile, holding that model's calls only
/// (the first window of a newly served model starts it afresh), and nothing older than
/// `max_age`.
pub struct FleetDrift {
    window: Mutex<Held>,
    max_age: Duration,
    /// The most of the window one user may hold (a fraction).
    share: f64,
    /// Fingerprints of the patient store's recordings, for the store they were taken of.
    known: Mutex<Known>,
    extractor: FeatureExtractor,
    /// One scrape at a time sets and reads the gauges.
    scrape: Mutex<()>,
}

#[derive(Default)]
struct Known {
    /// The store the fingerprints describe (weak: a store dropped and another allocated at
    /// the same address is never mistaken for it).
    store: std::sync::Weak<patient_store::PatientStore>,
    fingerprints: Arc<HashSet<u64>>,
}

/// The default `DRIFT_MAX_USER_SHARE`.
pub const DEFAULT_SHARE: f64 = 0.1;

struct Held {
    window: DriftWindow,
    /// The model version whose calls the window holds.
    version: Option<String>,
}

/// How long a scored window counts as describing the input of now, by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

impl Default for FleetDrift {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_AGE, DEFAULT_SHARE)
    }
}

impl FleetDrift {
    pub fn new(max_age: Duration, share: f64) -> Self {
        let mut window = DriftWindow::new(drift::BuildConfig::default().window);
        window.set_share(share);
        Self {
            window: Mutex::new(Held {
                window,
                version: None,
            }),
            max_age,
            share,
            known: Mutex::new(Known::default()),
            extractor: FeatureExtractor::for_recordings(),
            scrape: Mutex::new(()),
        }
    }

    /// The features of row-major recordings of the model's window length.
    pub fn features(&self, samples: &[f32]) -> Vec<Features> {
        samples
            .chunks_exact(self.extractor.window_len())
            .map(|w| self.extractor.features(w))
            .collect()
    }

    /// Which of row-major `recordings` are recordings already known, not new input: the
    /// patient `store`'s (exact matches; its fingerprints are taken once per store) or the
    /// data set's the `profile` names.
    pub fn known_recordings(
        &self,
        store: Option<&Arc<patient_store::PatientStore>>,
        profile: &Profile,
        recordings: &[f32],
    ) -> Vec<bool> {
        let store_knows = self.store_fingerprints(store);
        recordings
            .chunks_exact(self.extractor.window_len())
            .map(|r| knows(profile, store_knows.as_deref(), fingerprint(r)))
            .collect()
    }

    /// The same test for one fingerprint at a time (a stream's every sample), for a model with
    /// a drift profile; `None` without one (nothing joins the window then).
    pub fn recogniser(
        &self,
        store: Option<&Arc<patient_store::PatientStore>>,
        predictor: &Arc<seizure_model::Predictor>,
    ) -> Option<impl Fn(u64) -> bool> {
        predictor.profile()?;
        let store_knows = self.store_fingerprints(store);
        let predictor = predictor.clone();
        Some(move |f: u64| {
            predictor
                .profile()
                .is_some_and(|p| knows(p, store_knows.as_deref(), f))
        })
    }

    fn store_fingerprints(
        &self,
        store: Option<&Arc<patient_store::PatientStore>>,
    ) -> Option<Arc<HashSet<u64>>> {
        let store = store?;
        let cached = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            known
                .store
                .upgrade()
                .is_some_and(|held| Arc::ptr_eq(&held, store))
                .then(|| known.fingerprints.clone())
        };
        // Taken outside the lock (a few thousand recordings read once per store): other
        // predictions do not wait for it.
        let fingerprints = cached.unwrap_or_else(|| {
            let fingerprints = Arc::new(store_fingerprints(store));
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            known.store = Arc::downgrade(store);
            known.fingerprints = fingerprints.clone();
            fingerprints
        });
        Some(fingerprints)
    }

    /// Adds windows from `source` (a user) scored by model `version` (with `profile`): their
    /// features and whether the model called them seizure. Only the `serving` model's
    /// windows count (a session pinned to the previous model adds nothing); the first of a
    /// newly served model clears the previous one's.
    pub fn observe(
        &self,
        serving: Option<&str>,
        version: &str,
        profile: &Profile,
        source: &str,
        features: &[Features],
        called: &[bool],
    ) {
        if serving != Some(version) {
            return;
        }
        let mut held = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if held.version.as_deref() != Some(version) {
            held.window.clear();
            held.version = Some(version.to_owned());
        }
        if held.window.capacity() != profile.drift.window {
            held.window.resize(profile.drift.window);
            held.window.set_share(self.share);
        }
        let now = Instant::now();
        for (features, &called) in features.iter().zip(called) {
            held.window.observe_from(now, source, features, called);
        }
    }

    /// Sets the drift gauges for the serving model (or clears them: no model, no profile),
    /// then renders the metrics with them, one scrape at a time.
    pub fn scrape<T>(
        &self,
        gauges: &DriftGauges,
        model: Option<&Arc<LoadedModel>>,
        render: impl FnOnce() -> T,
    ) -> T {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(gauges, model);
        render()
    }

    fn refresh(&self, gauges: &DriftGauges, model: Option<&Arc<LoadedModel>>) {
        gauges.clear();
        let Some(profile) = model.and_then(|m| m.predictor.profile()) else {
            return;
        };
        let snapshot = {
            let mut held = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(cutoff) = Instant::now().checked_sub(self.max_age) {
                held.window.expire(cutoff);
            }
            // Another model's windows say nothing against this model's profile.
            if held.version.as_deref() != model.map(|m| m.version.as_str()) {
                held.window.clear();
            }
            (
                held.window.snapshot(),
                held.window.sources(),
                held.window.share(),
            )
        };
        let (snapshot, sources, share) = snapshot;
        let report = snapshot.report(profile);
        gauges.window_sources.set(sources as f64);
        gauges.window_user_share.set(share as f64);
        gauges.window_capacity.set(report.capacity as f64);
        gauges.window_windows.set(report.windows as f64);
        gauges
            .window_background
            .set(report.background_windows.min(report.capacity) as f64);
        gauges
            .training_seizure_rate
            .set(profile.rate.training_seizure_rate);
        gauges.rate_threshold.set(profile.rate.threshold);
        for (j, name) in FEATURES.iter().enumerate() {
            gauges
                .ks_threshold
                .with_label_values(&[name])
                .set(profile.drift.ks_threshold[j]);
            gauges
                .wasserstein_threshold
                .with_label_values(&[name])
                .set(profile.drift.wasserstein_threshold[j]);
        }
        if let Some(rate) = report.predicted_seizure_rate {
            gauges.predicted_seizure_rate.set(rate);
            gauges.rate_ready.set(1.0);
        }
        if let Some(features) = report.features {
            for (j, name) in FEATURES.iter().enumerate() {
                gauges.ks.with_label_values(&[name]).set(features.ks[j]);
                gauges
                    .wasserstein
                    .with_label_values(&[name])
                    .set(features.wasserstein[j]);
            }
            gauges.score.set(features.score);
            gauges.ready.set(1.0);
        }
    }
}

/// The drift gauges (set at each scrape) and the OOD counter.
#[derive(Clone)]
pub struct DriftGauges {
    pub ks: GaugeVec,
    pub ks_threshold: GaugeVec,
    pub wasserstein: GaugeVec,
    pub wasserstein_threshold: GaugeVec,
    /// The largest statistic-to-threshold ratio: above 1 is drift.
    pub score: Gauge,
    /// 1 when the window holds enough background windows for the statistics.
    pub ready: Gauge,
    pub window_capacity: Gauge,
    /// Scored windows in the sliding window now (the serving model's, recent enough).
    pub window_windows: Gauge,
    pub window_background: Gauge,
    /// Users with windows in the sliding window now, and the most one may hold.
    pub window_sources: Gauge,
    pub window_user_share: Gauge,
    pub predicted_seizure_rate: Gauge,
    pub rate_ready: Gauge,
    pub rate_threshold: Gauge,
    pub training_seizure_rate: Gauge,
    /// Windows flagged out of distribution, by `source` (`predict`, `monitor`).
    pub ood_windows: IntCounterVec,
}

fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::new(name, help).expect("a valid metric")
}

fn per_feature(name: &str, help: &str) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), &["feature"]).expect("a valid metric")
}

impl DriftGauges {
    pub fn new(registry: &prometheus::Registry) -> Self {
        let gauges = Self {
            ks: per_feature(
                "input_drift_ks",
                "KS statistic of the recent background windows' feature against the model's training reference",
            ),
            ks_threshold: per_feature(
                "input_drift_ks_threshold",
                "The KS statistic above which the feature drifts (calibrated by permutation)",
            ),
            wasserstein: per_feature(
                "input_drift_wasserstein",
                "Wasserstein distance of the recent background windows' feature from the training reference, over the reference's standard deviation",
            ),
            wasserstein_threshold: per_feature(
                "input_drift_wasserstein_threshold",
                "The normalised Wasserstein distance above which the feature drifts (calibrated by permutation)",
            ),
            score: gauge(
                "input_drift_score",
                "Largest drift statistic over its threshold, all features (above 1: drift)",
            ),
            ready: gauge(
                "input_drift_ready",
                "1 when the sliding window holds enough background windows for the drift statistics",
            ),
            window_capacity: gauge(
                "input_drift_window_size",
                "Windows the drift statistics compare at a time",
            ),
            window_windows: gauge(
                "input_drift_window_windows",
                "Scored windows in the sliding window now (the serving model's, recent enough)",
            ),
            window_background: gauge(
                "input_drift_window_background",
                "Background windows (called non-seizure) in the sliding window now",
            ),
            window_sources: gauge(
                "input_drift_window_users",
                "Users whose windows are in the sliding window now",
            ),
            window_user_share: gauge(
                "input_drift_window_user_share",
                "The most windows one user may hold in the sliding window (DRIFT_MAX_USER_SHARE)",
            ),
            predicted_seizure_rate: gauge(
                "predicted_seizure_rate",
                "Share of the recent scored windows the model called seizure",
            ),
            rate_ready: gauge(
                "predicted_seizure_rate_ready",
                "1 when the sliding window is full enough for the predicted-seizure rate",
            ),
            rate_threshold: gauge(
                "predicted_seizure_rate_threshold",
                "The predicted-seizure rate unchanged input stays under (calibrated by permutation)",
            ),
            training_seizure_rate: gauge(
                "training_seizure_rate",
                "Share of the model's training windows in seizure segments (the base rate)",
            ),
            ood_windows: IntCounterVec::new(
                Opts::new(
                    "ood_windows_total",
                    "Scored windows flagged out of distribution (unlike the training windows)",
                ),
                &["source"],
            )
            .expect("a valid metric"),
        };
        for source in ["predict", "monitor"] {
            gauges.ood_windows.with_label_values(&[source]);
        }
        for metric in [&gauges.ks, &gauges.ks_threshold, &gauges.wasserstein] {
            http_metrics::register(registry, metric.clone());
        }
        http_metrics::register(registry, gauges.wasserstein_threshold.clone());
        for metric in [
            &gauges.score,
            &gauges.ready,
            &gauges.window_capacity,
            &gauges.window_windows,
            &gauges.window_background,
            &gauges.window_sources,
            &gauges.window_user_share,
            &gauges.predicted_seizure_rate,
            &gauges.rate_ready,
            &gauges.rate_threshold,
            &gauges.training_seizure_rate,
        ] {
            http_metrics::register(registry, metric.clone());
        }
        http_metrics::register(registry, gauges.ood_windows.clone());
        gauges
    }

    /// Per-feature series go; the scalar gauges read 0 (and `ready` 0) until set again.
    fn clear(&self) {
        for vec in [
            &self.ks,
            &self.ks_threshold,
            &self.wasserstein,
            &self.wasserstein_threshold,
        ] {
            vec.reset();
        }
        for g in [
            &self.score,
            &self.ready,
            &self.window_capacity,
            &self.window_windows,
            &self.window_background,
            &self.window_sources,
            &self.window_user_share,
            &self.predicted_seizure_rate,
            &self.rate_ready,
            &self.rate_threshold,
            &self.training_seizure_rate,
        ] {
            g.set(0.0);
        }
    }
}
