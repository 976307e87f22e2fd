//! The patient store read as signals: which patients there are and a patient's raw recordings,
//! for a viewer that draws the EEG under its predictions (the page at `/ui/`). Same roles as
//! `GET /predict/{patient_id}`; reads of a patient's signal are limited per user
//! (`SIGNAL_READS_PER_MINUTE`, then 429) and each is written to the audit log (`kind:
//! signal_read`: who read which patient, when) before it is answered.

use auth_tokens::Role;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use http_kit::{ApiError, Authenticated, ErrorBody};
use serde::Serialize;

use crate::routes::PREDICTING_ROLES;
use crate::service::patients::patient_store;
use crate::service::verdicts::verdicts;
use crate::state::SharedState;
use crate::verdicts::VerdictList;

/// The patients of the store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientList {
    pub count: usize,
    /// Their ids, ascending.
    pub patients: Vec<u64>,
}

/// One patient's raw EEG, as the store holds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientSignal {
    pub patient_id: u64,
    /// The source data's segment name.
    pub segment: String,
    pub sampling_hz: f64,
    /// Samples per recording (one second).
    pub samples_per_recording: usize,
    /// Each recording's one-second chunk number in the source data, in the order of
    /// `recordings` (and of the per-recording predictions).
    pub chunks: Vec<u8>,
    /// The recordings' raw samples (µV), one array per recording.
    pub recordings: Vec<Vec<f32>>,
}

#[utoipa::path(get, path = "/patients",
    responses((status = 200, body = PatientList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_patients(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<PatientList>, ApiError> {
    caller.require(&PREDICTING_ROLES)?;
    let store = patient_store(&state)?;
    let patients = store.patient_ids();
    Ok(Json(PatientList {
        count: patients.len(),
        patients,
    }))
}

#[utoipa::path(get, path = "/patients/{patient_id}/recordings",
    params(("patient_id" = String, Path, description = "the patient's id (a positive integer)")),
    responses((status = 200, body = PatientSignal), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(patient = %crate::routes::span_text(&raw_id)))]
pub(crate) async fn patient_recordings(
    State(state): State<SharedState>,
    caller: Authenticated,
    Path(raw_id): Path<String>,
) -> Result<Json<PatientSignal>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let patient_id: u64 = raw_id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "the patient id must be a positive integer, not {raw_id:?}"
        ))
    })?;
    if let Err(wait) = state
        .signal_reads
        .take(&claims.sub, 1, std::time::Instant::now())
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_signal_reads",
            format!(
                "you have read patients' signals as often as allowed a minute; try again in \
                 {:.0} s",
                wait.as_secs_f64().ceil()
            ),
        )
        .retry_after(wait.as_secs().max(1)));
    }
    let store = patient_store(&state)?;
    let span = tracing::Span::current();
    let found = tokio::task::spawn_blocking(move || span.in_scope(|| store.get(patient_id)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let Some(found) = found else {
        return Err(ApiError::not_found(format!("no patient {patient_id}")));
    };
    tracing::info!(
        patient_id,
        user = %claims.sub,
        admin = claims.role == Role::Admin,
        "patient signal read"
    );
    // Audited before it is answered, like a prediction: no signal leaves unrecorded.
    let record = crate::audit::PredictionRecord {
        id: auth_tokens::random_id(),
        at: String::new(),
        at_us: crate::audit::now_micros(),
        username: claims.sub.clone(),
        role: claims.role.as_str().to_owned(),
        request_id: None,
        patient_id: Some(patient_id),
        model_version: state
            .model
            .current()
            .map(|m| m.version.clone())
            .unwrap_or_default(),
        recordings: found.chunks.len(),
        seizure_probability: 0.0,
        prediction: false,
        epileptic_recordings: Vec::new(),
        kind: crate::audit::KIND_SIGNAL_READ.to_owned(),
        session_id: None,
        acknowledges: None,
        decision: None,
    };
    state.log.record(record).await.map_err(ApiError::internal)?;
    let per = found.samples.len() / found.chunks.len().max(1);
    Ok(Json(PatientSignal {
        patient_id,
        segment: found.segment,
        sampling_hz: eeg_data::SAMPLING_HZ,
        samples_per_recording: per,
        recordings: found
            .samples
            .chunks(per.max(1))
            .map(<[f32]>::to_vec)
            .collect(),
        chunks: found.chunks,
    }))
}

#[utoipa::path(get, path = "/patients/verdicts",
    responses((status = 200, body = VerdictList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
/// Every patient of the store with the serving model's call (computed once per model
/// version, patient store and thresholds; not audited per read, unlike `GET /predict/{id}`).
#[tracing::instrument(skip_all)]
pub(crate) async fn patient_verdicts(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<VerdictList>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let list = verdicts(&state, &claims.sub).await?;
    Ok(Json(VerdictList::clone(&list)))
}
