//! Health and metrics: `/health/ready` (readiness, with the audit log's and the patient
//! store's state) and `/metrics` (Prometheus text). `/health/live` is http-kit's.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_kit::ErrorBody;

use crate::service::readiness::readiness;
use crate::service::work::blocking;
use crate::state::SharedState;

#[utoipa::path(get, path = "/health/ready", responses((status = 200), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) async fn ready(State(state): State<SharedState>) -> Response {
    readiness(&state).map(Json).into_response()
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) async fn metrics(State(state): State<SharedState>) -> Response {
    let worker = state.clone();
    let model = state.model.current();
    blocking(move || {
        Ok(worker
            .drift
            .scrape(&worker.metrics.drift, model.as_ref(), || {
                worker.metrics.http.render()
            }))
    })
    .await
    .into_response()
}
