//! The service's shared state: what it serves (the model slot, the patient store), what it
//! keeps (the audit log, metrics, sessions, the drift window) and its settings. It knows the
//! leaves it holds and nothing above them: no handler, no service function.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use auth_tokens::Verifier;
use http_kit::VerifierState;
use patient_store::PatientStore;

use crate::admission::Admission;
use crate::audit::PredictionLog;
use crate::config::AuthUrl;
use crate::fleet_drift::FleetDrift;
use crate::metrics::InferenceMetrics;
use crate::model::{ModelSlot, ReleaseSource, Settled};
use crate::quota::PerUser;
use crate::sessions::Sessions;
use crate::verdicts::VerdictCache;

pub struct Settings {
    pub release: ReleaseSource,
    pub patient_store_dir: PathBuf,
    /// Overrides the model card's window threshold, if set.
    pub threshold: Option<f64>,
    /// Overrides the model card's patient threshold, if set.
    pub patient_threshold: Option<f64>,
    /// Who answers, e.g. `inference@host`.
    pub instance: String,
    pub request_timeout: std::time::Duration,
    /// Overrides the model card's bound on absolute raw sample values, if set.
    pub max_abs_sample: Option<f64>,
    /// How long shutdown waits for the audit log before spilling what is left.
    pub audit_shutdown_grace: std::time::Duration,
    pub limits: http_kit::ServerLimits,
    /// How often each replica checks the production pointer (`None`: not watched).
    pub model_watch: Option<std::time::Duration>,
    /// Largest WebSocket message accepted (the body limit of the HTTP endpoints).
    pub max_message_bytes: usize,
    /// Request bodies in flight, all together (`MAX_BODY_BYTES_IN_FLIGHT`).
    pub body_bytes_in_flight: usize,
    /// One user's share of it (`MAX_BODY_BYTES_PER_USER`).
    pub body_bytes_per_user: usize,
    /// Where the page at /ui/ logs in (`UI_AUTH_URL`).
    pub ui_auth: Option<AuthUrl>,
}

pub struct AppState {
    pub model: ModelSlot,
    pub patients: ArcSwapOption<PatientStore>,
    pub log: PredictionLog,
    pub metrics: InferenceMetrics,
    pub verifier: Arc<Verifier>,
    pub settings: Settings,
    /// One reload at a time.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The production release this replica last loaded or refused: the pointer watch
    /// compares against it.
    pub settled: Settled,
    /// Prediction work in progress, per user and in all.
    pub admission: Arc<Admission>,
    /// Open bedside monitoring sessions.
    pub sessions: Sessions,
    /// The sliding window of scored windows for fleet-wide drift.
    pub drift: FleetDrift,
    /// Reads of patients' signals, per user (`SIGNAL_READS_PER_MINUTE`).
    pub signal_reads: PerUser,
    /// The page's patient list, computed once per model, store and thresholds.
    pub verdicts: tokio::sync::Mutex<VerdictCache>,
    /// Alarm acknowledgements, one at a time (each checks the log, then writes to it).
    pub acknowledging: tokio::sync::Mutex<()>,
}

impl VerifierState for AppState {
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

pub(crate) type SharedState = Arc<AppState>;
