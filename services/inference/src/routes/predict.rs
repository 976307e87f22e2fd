//! Predictions: `GET /predict/{patient_id}` (a patient of the store) and `POST /predict`
//! (a batch of raw recordings).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use eeg_data::SAMPLES_PER_RECORDING;
use http_kit::{ApiError, Authenticated, ErrorBody, RequestId};
use seizure_model::PredictError;
use serde::Deserialize;

use crate::routes::PREDICTING_ROLES;
use crate::service::patients::patient_store_for;
use crate::service::scoring::{
    audit, count_outcome, input_bound, predict_recordings, score, serving_model, PredictionResponse,
};
use crate::service::work::{admit, blocking_as};
use crate::signals::MAX_RECORDINGS;
use crate::state::SharedState;

#[utoipa::path(get, path = "/predict/{patient_id}", params(("patient_id" = u64, Path, description = "the patient's id in the patient store")),
    responses((status = 200, body = PredictionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(patient = %crate::routes::span_text(&raw_id)))]
pub(crate) async fn predict_patient(
    State(state): State<SharedState>,
    caller: Authenticated,
    Extension(request_id): Extension<RequestId>,
    Path(raw_id): Path<String>,
) -> Result<Json<PredictionResponse>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let patient_id: u64 = raw_id.parse().map_err(|_| {
        state.metrics.outcome("invalid_input");
        ApiError::bad_request(format!(
            "the patient id must be a positive integer, not {raw_id:?}"
        ))
    })?;
    let model = serving_model(&state)?;
    let store = patient_store_for(&state, &model)?;
    let ticket = admit(&state, &claims.sub)?;
    let cancel = ticket.cancellation();
    let worker = state.clone();
    // A patient of the store: 23 recordings.
    let answer = blocking_as(&ticket, 0, move || {
        let recordings = store.get(patient_id).map_err(ApiError::internal)?;
        let Some(recordings) = recordings else {
            worker.metrics.outcome("unknown_patient");
            return Err(ApiError::not_found(format!("no patient {patient_id}")));
        };
        // The store is ours, but a corrupted one must not give a confident answer either.
        let bound = input_bound(&worker, &model);
        if let Some(position) = recordings
            .samples
            .iter()
            .position(|v| !v.is_finite() || f64::from(v.abs()) > bound)
        {
            tracing::error!(
                patient_id,
                recording = position / SAMPLES_PER_RECORDING,
                sample = position % SAMPLES_PER_RECORDING,
                "the patient store holds a non-physical value"
            );
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_patient_store",
                format!(
                    "patient {patient_id}'s recording {} holds a value outside the model's input \
                     range at sample {}; no prediction is given",
                    position / SAMPLES_PER_RECORDING,
                    position % SAMPLES_PER_RECORDING
                ),
            ));
        }
        score(
            &worker,
            &model,
            &recordings.samples,
            Some(patient_id),
            Some(&recordings.chunks),
            &cancel,
            None,
        )
    })
    .await?;
    drop(ticket);
    count_outcome(&state, &answer);
    audit(&state, &claims, &request_id, &answer).await?;
    Ok(Json(answer))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignalsBody {
    /// 1 to 1,000 recordings of 178 raw samples each.
    #[serde(deserialize_with = "crate::signals::bounded_recordings")]
    recordings: Vec<Vec<f64>>,
}

#[utoipa::path(post, path = "/predict", request_body = SignalsBody,
    responses((status = 200, body = PredictionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn predict_signals(
    State(state): State<SharedState>,
    caller: Authenticated,
    Extension(request_id): Extension<RequestId>,
    body: Result<Json<SignalsBody>, JsonRejection>,
) -> Result<Json<PredictionResponse>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let invalid = |error: ApiError| {
        state.metrics.outcome("invalid_input");
        error
    };
    let Json(body) = body.map_err(|e| {
        invalid(match e {
            // Well-formed JSON that is not a valid request (a recording too long, a string
            // for a number): 422, like every other invalid recording.
            JsonRejection::JsonDataError(e) => ApiError::unprocessable(e.body_text()),
            other => other.into(),
        })
    })?;
    if body.recordings.len() > MAX_RECORDINGS {
        return Err(invalid(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_recordings",
            format!("more than {MAX_RECORDINGS} recordings; at most {MAX_RECORDINGS} per request"),
        )));
    }
    let model = serving_model(&state)?;
    let bound = input_bound(&state, &model);
    seizure_model::predictor::check_recordings(&body.recordings, bound).map_err(|e| {
        invalid(match e {
            PredictError::Empty => {
                ApiError::unprocessable("send at least one recording of 178 samples")
            }
            other => ApiError::unprocessable(other.to_string()),
        })
    })?;
    let samples: Vec<f32> = body
        .recordings
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    let answer = predict_recordings(&state, &claims, &request_id, model, samples).await?;
    Ok(Json(answer))
}
