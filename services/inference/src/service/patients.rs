//! The patient store as the service reads it: opened on first use, and refused for a model
//! whose training data it may overlap.

use std::sync::Arc;

use axum::http::StatusCode;
use http_kit::ApiError;
use patient_store::PatientStore;

use crate::model::LoadedModel;
use crate::state::AppState;

/// The patient store for `model`: refused (503) when its patients may be segments the
/// model was trained on (built from another data version than the model's training data).
pub(crate) fn patient_store_for(
    state: &AppState,
    model: &LoadedModel,
) -> Result<Arc<PatientStore>, ApiError> {
    let store = patient_store(state)?;
    patient_store::check_disjoint(
        store.source_data_md5(),
        model.card().training_data_md5.as_deref(),
    )
    .map_err(|reason| {
        state.metrics.outcome("store_mismatch");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_mismatch", reason)
    })?;
    Ok(store)
}

/// The patient store, opened on first use if it was missing at start.
pub(crate) fn patient_store(state: &AppState) -> Result<Arc<PatientStore>, ApiError> {
    if let Some(store) = state.patients.load_full() {
        return Ok(store);
    }
    let store = PatientStore::open(&state.settings.patient_store).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_patient_store",
            format!("the patient store is not available: {e}"),
        )
    })?;
    let store = Arc::new(store);
    state.patients.store(Some(store.clone()));
    Ok(store)
}
