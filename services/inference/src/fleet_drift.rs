//! Drift of the incoming signal, fleet-wide on this replica: every window the service scores
//! (`/predict`, `infer`, monitoring sessions) goes into one sliding window, compared with the
//! serving model's profile at every Prometheus scrape. See `drift::profile` for the
//! statistics and their calibration, and docs/drift.md.

use std::sync::{Arc, Mutex};

use drift::{DriftWindow, FeatureExtractor, Features, Profile, FEATURES};
use prometheus::{Gauge, GaugeVec, IntCounterVec, Opts};

use crate::model::LoadedModel;

/// The sliding window, sized by the serving model's profile.
pub struct FleetDrift {
    window: Mutex<DriftWindow>,
    extractor: FeatureExtractor,
    /// One scrape at a time sets and reads the gauges.
    scrape: Mutex<()>,
}

impl Default for FleetDrift {
    fn default() -> Self {
        Self {
            window: Mutex::new(DriftWindow::new(drift::BuildConfig::default().window)),
            extractor: FeatureExtractor::for_recordings(),
            scrape: Mutex::new(()),
        }
    }
}

impl FleetDrift {
    /// The features of row-major recordings of the model's window length.
    pub fn features(&self, samples: &[f32]) -> Vec<Features> {
        samples
            .chunks_exact(self.extractor.window_len())
            .map(|w| self.extractor.features(w))
            .collect()
    }

    /// Adds scored windows: their features and whether the model called them seizure.
    pub fn observe(&self, profile: &Profile, features: &[Features], called: &[bool]) {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if window.capacity() != profile.drift.window {
            window.resize(profile.drift.window);
        }
        for (features, &called) in features.iter().zip(called) {
            window.observe(features, called);
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
        let snapshot = self
            .window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot();
        let report = snapshot.report(profile);
        gauges.window_capacity.set(report.capacity as f64);
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
    pub window_background: Gauge,
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
            window_background: gauge(
                "input_drift_window_background",
                "Background windows (called non-seizure) in the sliding window now",
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
            &gauges.window_background,
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
            &self.window_background,
            &self.predicted_seizure_rate,
            &self.rate_ready,
            &self.rate_threshold,
            &self.training_seizure_rate,
        ] {
            g.set(0.0);
        }
    }
}
