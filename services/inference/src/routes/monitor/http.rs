//! The plain-HTTP form of monitoring sessions, for clients without WebSocket.

use auth_tokens::Role;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use http_kit::{ApiError, Authenticated, ErrorBody, RequestId};

use crate::routes::PREDICTING_ROLES;
use crate::service::monitor::{
    check_push_size, check_push_text, finish, info, max_message_bytes, no_session, open_entry,
    push_and_record, OpenBody, PushAnswer, PushBody, SessionInfo,
};
use crate::sessions::End;
use crate::state::SharedState;

#[utoipa::path(post, path = "/monitor/sessions", request_body = OpenBody,
    responses((status = 201, body = SessionInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn open_session(
    State(state): State<SharedState>,
    caller: Authenticated,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    // The body is optional: none means every default.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        OpenBody::default()
    } else {
        // Through serde_path_to_error, so a value of the wrong type is named by its field.
        let mut json = serde_json::Deserializer::from_slice(&body);
        let settings: OpenBody = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let e = e.into_inner();
            match e.classify() {
                serde_json::error::Category::Data if path != "." => {
                    ApiError::unprocessable(format!("invalid session settings: {path}: {e}"))
                }
                serde_json::error::Category::Data => {
                    ApiError::unprocessable(format!("invalid session settings: {e}"))
                }
                _ => ApiError::bad_request(format!("the body is not JSON: {e}")),
            }
        })?;
        // Nothing but whitespace after the settings (`{"replay": true} xyz` is not JSON).
        json.end()
            .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
        settings
    };
    let entry = open_entry(&state, &claims, body)?;
    let answer = info(&entry, &state.sessions);
    Ok((StatusCode::CREATED, Json(answer)))
}

#[utoipa::path(get, path = "/monitor/sessions/{id}", params(("id" = String, Path, description = "the session id")),
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(session = %crate::routes::span_text(&id)))]
pub(crate) async fn session_status(
    State(state): State<SharedState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?;
    let entry = state
        .sessions
        .get(&id, &claims.sub, claims.role == Role::Admin)
        .ok_or_else(|| no_session(&id))?;
    let answer = info(&entry, &state.sessions);
    Ok(Json(answer))
}

#[utoipa::path(post, path = "/monitor/sessions/{id}/samples", params(("id" = String, Path, description = "the session id")), request_body = PushBody,
    responses((status = 200, body = PushAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(session = %crate::routes::span_text(&id)))]
pub(crate) async fn push_samples(
    State(state): State<SharedState>,
    caller: Authenticated,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Json<PushAnswer>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?.clone();
    // An unknown session is refused before its body is read; the body is read within the
    // size of one push (not the service's whole body limit) and parsed only then.
    let entry = state
        .sessions
        .get(&id, &claims.sub, claims.role == Role::Admin)
        .ok_or_else(|| no_session(&id))?;
    let limit = max_message_bytes(&state);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        if e.is::<http_body_util::LengthLimitError>() {
            too_large(limit)
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    check_push_text(&state, &bytes)?;
    let body: PushBody = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(e.to_string()),
        _ => ApiError::bad_request(format!("the body is not JSON: {e}")),
    })?;
    drop(bytes);
    check_push_size(&state, body.samples.len())?;
    let answer = push_and_record(
        &state,
        &claims,
        Some(request_id),
        entry,
        body.samples,
        body.offset,
    )
    .await?;
    Ok(Json(answer))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "a push body may take at most {limit} bytes (one push of the most samples); \
             send the rest in further pushes"
        ),
    )
}

#[utoipa::path(delete, path = "/monitor/sessions/{id}", params(("id" = String, Path, description = "the session id")),
    responses((status = 200, body = PushAnswer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(session = %crate::routes::span_text(&id)))]
pub(crate) async fn close_session(
    State(state): State<SharedState>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PushAnswer>, ApiError> {
    let claims = caller.require(&PREDICTING_ROLES)?;
    let entry = state
        .sessions
        .remove(&id, &claims.sub, claims.role == Role::Admin, End::Deleted)
        .ok_or_else(|| no_session(&id))?;
    state
        .metrics
        .monitor_sessions
        .set(state.sessions.len() as i64);
    state
        .metrics
        .monitor_sessions_closed
        .with_label_values(&["client"])
        .inc();
    let answer = finish(&entry).await;
    Ok(Json(answer))
}
