//! The page's patient list as the service keeps it: each patient's call by one model version,
//! on one patient store, under the thresholds in force (computed by the service layer, see
//! `service::verdicts`), kept until any of those changes.

use std::sync::Arc;

use patient_store::PatientStore;
use serde::Serialize;

/// One patient's call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatientVerdict {
    pub patient_id: u64,
    /// `seizure` or `non-seizure`, by the card's patient decision.
    pub prediction: String,
    /// The patient's score under the patient rule, against `patient_threshold`.
    pub patient_score: f64,
    /// Recordings whose input is unlike the training data (their answers are not to be
    /// trusted).
    pub recordings_out_of_distribution: usize,
}

/// The list, and what it was computed with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerdictList {
    pub model_version: String,
    pub patient_rule: String,
    pub patient_threshold: f64,
    pub threshold: f64,
    /// RFC 3339, UTC: when these calls were computed (once per model, store and thresholds).
    pub computed_at: String,
    pub patients: Vec<PatientVerdict>,
}

/// What a list was computed with.
pub struct CacheKey {
    pub model_version: String,
    pub store: Arc<PatientStore>,
    /// `PREDICTION_THRESHOLD`, `PATIENT_THRESHOLD`.
    pub thresholds: (Option<f64>, Option<f64>),
}

impl CacheKey {
    fn matches(&self, other: &CacheKey) -> bool {
        self.model_version == other.model_version
            && Arc::ptr_eq(&self.store, &other.store)
            && self.thresholds == other.thresholds
    }
}

/// The last list and its key.
#[derive(Default)]
pub struct VerdictCache {
    cached: Option<(CacheKey, Arc<VerdictList>)>,
}

impl VerdictCache {
    /// The list computed with `key`, if it is the one kept.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<VerdictList>> {
        self.cached
            .as_ref()
            .filter(|(kept, _)| kept.matches(key))
            .map(|(_, list)| Arc::clone(list))
    }

    pub fn put(&mut self, key: CacheKey, list: Arc<VerdictList>) {
        self.cached = Some((key, list));
    }
}
