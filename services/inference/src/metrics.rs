use http_metrics::HttpMetrics;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// Prediction outcomes, each a `predictions_total{outcome}` series from the start.
pub const OUTCOMES: [&str; 7] = [
    "seizure",
    "no_seizure",
    "invalid_input",
    "unknown_patient",
    "no_model",
    "non_finite_output",
    "overloaded",
];

/// The service's Prometheus metrics, beside the shared HTTP ones. No label ever holds a
/// patient id.
#[derive(Clone)]
pub struct InferenceMetrics {
    pub http: HttpMetrics,
    pub predictions: IntCounterVec,
    /// Model time only: the batched forward pass.
    pub prediction_seconds: Histogram,
    pub recordings_scored: IntCounter,
    pub reloads: IntCounterVec,
    /// 1 for the version being served.
    pub model_info: IntGaugeVec,
    pub model_loaded: IntGauge,
    /// 1 while this replica does not serve the release the production pointer names (it could
    /// not read or refused it): with the watch, a stuck replica.
    pub behind_pointer: IntGauge,
    /// Bedside monitoring: sessions open now, windows scored, alarms raised, sessions closed
    /// by `end` (`client`, `idle`).
    pub monitor_sessions: IntGauge,
    pub monitor_windows: IntCounter,
    pub monitor_alarms: IntCounter,
    pub monitor_sessions_closed: IntCounterVec,
    /// Drift gauges (set at each scrape) and out-of-distribution windows.
    pub drift: crate::fleet_drift::DriftGauges,
}

impl InferenceMetrics {
    pub fn new() -> Self {
        let http = HttpMetrics::new();
        let predictions = IntCounterVec::new(
            Opts::new("predictions_total", "Prediction requests by outcome"),
            &["outcome"],
        )
        .expect("a valid metric");
        let prediction_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "prediction_duration_seconds",
                "Model time per prediction request (one batched forward pass)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("a valid metric");
        let recordings_scored =
            IntCounter::new("recordings_scored_total", "Recordings scored by the model")
                .expect("a valid metric");
        let reloads = IntCounterVec::new(
            Opts::new("model_reloads_total", "Model reloads by result"),
            &["result"],
        )
        .expect("a valid metric");
        let model_info = IntGaugeVec::new(
            Opts::new("model_info", "The model version being served (value 1)"),
            &["version"],
        )
        .expect("a valid metric");
        let model_loaded = IntGauge::new("model_loaded", "1 when a model is loaded and serving")
            .expect("a valid metric");
        let behind_pointer = IntGauge::new(
            "model_behind_pointer",
            "1 while this replica does not serve the release the production pointer names",
        )
        .expect("a valid metric");
        let monitor_sessions =
            IntGauge::new("monitor_sessions", "Bedside monitoring sessions open now")
                .expect("a valid metric");
        let monitor_windows = IntCounter::new(
            "monitor_windows_total",
            "Windows scored in bedside monitoring sessions",
        )
        .expect("a valid metric");
        let monitor_alarms = IntCounter::new(
            "monitor_alarms_total",
            "Seizure onsets raised in bedside monitoring sessions",
        )
        .expect("a valid metric");
        let monitor_sessions_closed = IntCounterVec::new(
            Opts::new(
                "monitor_sessions_closed_total",
                "Bedside monitoring sessions closed, by who ended them",
            ),
            &["end"],
        )
        .expect("a valid metric");
        for end in ["client", "idle", "token"] {
            monitor_sessions_closed.with_label_values(&[end]);
        }
        for outcome in OUTCOMES {
            predictions.with_label_values(&[outcome]);
        }
        for result in ["success", "failure"] {
            reloads.with_label_values(&[result]);
        }
        let registry = http.registry();
        http_metrics::register(registry, predictions.clone());
        http_metrics::register(registry, prediction_seconds.clone());
        http_metrics::register(registry, recordings_scored.clone());
        http_metrics::register(registry, reloads.clone());
        http_metrics::register(registry, model_info.clone());
        http_metrics::register(registry, model_loaded.clone());
        http_metrics::register(registry, behind_pointer.clone());
        http_metrics::register(registry, monitor_sessions.clone());
        http_metrics::register(registry, monitor_windows.clone());
        http_metrics::register(registry, monitor_alarms.clone());
        http_metrics::register(registry, monitor_sessions_closed.clone());
        let drift = crate::fleet_drift::DriftGauges::new(registry);
        Self {
            drift,
            http,
            predictions,
            prediction_seconds,
            recordings_scored,
            reloads,
            model_info,
            model_loaded,
            behind_pointer,
            monitor_sessions,
            monitor_windows,
            monitor_alarms,
            monitor_sessions_closed,
        }
    }

    pub fn outcome(&self, outcome: &str) {
        self.predictions.with_label_values(&[outcome]).inc();
    }

    /// The served version changed from `old` to `new`.
    pub fn serving(&self, old: Option<&str>, new: &str) {
        if let Some(old) = old {
            let _ = self.model_info.remove_label_values(&[old]);
        }
        self.model_info.with_label_values(&[new]).set(1);
        self.model_loaded.set(1);
    }
}

impl Default for InferenceMetrics {
    fn default() -> Self {
        Self::new()
    }
}
