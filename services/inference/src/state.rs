//! The service's shared state: what it serves (the model slot, the patient store), what it
//! keeps (the audit log, metrics, sessions, the drift window) and its settings
//! ([`InferenceSettings`]). It knows the
//! leaves it holds and nothing above them: no handler, no service function.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use auth_tokens::Verifier;
use http_kit::VerifierState;
use patient_store::PatientStore;

use crate::admission::Admission;
use crate::audit::PredictionLog;
use crate::fleet_drift::FleetDrift;
use crate::metrics::InferenceMetrics;
use crate::model::{ModelSlot, ReleaseSource, Settled};
use crate::quota::PerUser;
use crate::sessions::Sessions;
use crate::settings::InferenceSettings;
use crate::verdicts::VerdictCache;

pub struct AppState {
    pub model: ModelSlot,
    pub patients: ArcSwapOption<PatientStore>,
    pub log: PredictionLog,
    pub metrics: InferenceMetrics,
    pub verifier: Arc<Verifier>,
    /// What the service was started with.
    pub settings: InferenceSettings,
    /// Where the production release comes from.
    pub release: ReleaseSource,
    /// Who answers, e.g. `inference@host`.
    pub instance: String,
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
