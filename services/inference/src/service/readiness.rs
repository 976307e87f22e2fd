//! Readiness: whether this replica can answer (a model loaded, answers recordable) and how
//! well (the audit database, the patient store). One answer behind `/health/ready` and the
//! Open Inference Protocol's readiness.

use axum::http::StatusCode;
use http_kit::ApiError;
use serde_json::{json, Value};

use crate::state::AppState;

/// The readiness document (`status` `ready` or `degraded`), or why the replica is not ready
/// (503 `not_ready`).
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) fn readiness(state: &AppState) -> Result<Value, ApiError> {
    let Some(model) = state.model.current() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no model is loaded",
        ));
    };
    // A database outage alone does not take the service out of rotation: answers are kept
    // in the spill file meanwhile (`audit.healthy` false, status "degraded"). Only when the
    // spill file fails too could an answer go unrecorded: then the service is not ready.
    let audit = state.log.health();
    if !audit.durable {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "answers cannot be recorded: the database fails ({}) and so does the spill file ({})",
                audit.last_error.as_deref().unwrap_or("?"),
                audit.spill_error.as_deref().unwrap_or("?")
            ),
        ));
    }
    // A store that may hold the model's training segments does not answer patients (503
    // `store_mismatch`), but raw-signal predictions still work: degraded, not out of rotation.
    let patients = match state.patients.load_full() {
        None => json!({"available": false, "reason": "no patient store is open"}),
        Some(store) => match patient_store::check_disjoint(
            store.source_data_md5(),
            model.card().training_data_md5.as_deref(),
        ) {
            Ok(()) => json!({"available": true, "patients": store.len()}),
            Err(reason) => json!({"available": false, "reason": reason}),
        },
    };
    let status = if audit.healthy && patients["available"] == true {
        "ready"
    } else {
        "degraded"
    };
    Ok(json!({
        "status": status,
        "model_version": model.version,
        "audit": audit,
        "patients": patients,
    }))
}
