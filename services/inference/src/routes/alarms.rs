//! Alarms as records: `GET /alarms` (the caller's open seizure alarms; an admin's: everyone's)
//! and `POST /alarms/{alarm_id}/acknowledge` (an audited acknowledgement, once per alarm).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http_kit::{ApiError, Authenticated, ErrorBody, RequestId};
use serde::Serialize;

use crate::routes::PREDICTING_ROLES;
use crate::service::alarms::{acknowledge, open_alarms, Acknowledged, AlarmView};
use crate::state::SharedState;

/// The open alarms, newest first, and the last acknowledgements (who and when).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlarmList {
    pub count: usize,
    pub alarms: Vec<AlarmView>,
    pub recently_acknowledged: Vec<Acknowledged>,
}

#[utoipa::path(get, path = "/alarms",
    responses((status = 200, body = AlarmList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_alarms(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<AlarmList>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    let (alarms, recently_acknowledged) = open_alarms(&state, &claims).await?;
    Ok(Json(AlarmList {
        count: alarms.len(),
        alarms,
        recently_acknowledged,
    }))
}

#[utoipa::path(post, path = "/alarms/{alarm_id}/acknowledge",
    params(("alarm_id" = String, Path, description = "the alarm's id, as GET /alarms lists it")),
    responses((status = 200, body = Acknowledged), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(alarm = %crate::routes::span_text(&alarm_id)))]
pub(crate) async fn acknowledge_alarm(
    State(state): State<SharedState>,
    caller: Authenticated,
    Extension(request_id): Extension<RequestId>,
    Path(alarm_id): Path<String>,
) -> Result<Json<Acknowledged>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    Ok(Json(
        acknowledge(&state, &claims, Some(&request_id), &alarm_id).await?,
    ))
}
