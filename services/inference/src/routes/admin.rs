//! Administration and the served model: `POST /reload-model`, `GET /model-info` and the
//! audit log's `GET /logs`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use http_kit::{ApiError, Authenticated, ErrorBody};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Page;
use crate::model::LoadError;
use crate::service::scoring::threshold_of;
use crate::state::SharedState;

/// What a reload did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReloadResponse {
    pub status: String,
    pub old_version: Option<String>,
    pub new_version: String,
    pub loaded_at: String,
    /// The replica that answered (`inference@<host>`).
    pub replica: String,
    /// How the other replicas converge on the production model.
    pub fleet: String,
}

#[utoipa::path(post, path = "/reload-model",
    responses((status = 200, body = ReloadResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the production model failed validation; the old model keeps serving"),
        (status = 502, body = ErrorBody, description = "the production model cannot be read; the old model keeps serving")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn reload_model(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<ReloadResponse>, ApiError> {
    let claims = caller.require_admin()?.clone();
    match crate::service::reload::reload(&state, &claims.sub).await {
        Ok(done) => Ok(Json(ReloadResponse {
            status: "reloaded".into(),
            old_version: done.old_version,
            new_version: done.new_version,
            loaded_at: done.loaded_at,
            replica: state.instance.clone(),
            fleet: fleet_note(state.settings.model_watch),
        })),
        Err(e) => {
            let (status, code) = match e {
                LoadError::Invalid(_) => (StatusCode::CONFLICT, "invalid_model"),
                LoadError::Unavailable(_) => (StatusCode::BAD_GATEWAY, "model_unavailable"),
            };
            let still = match state.model.current() {
                Some(model) => format!("; still serving version {}", model.version),
                None => "; no model is serving".into(),
            };
            Err(ApiError::new(status, code, format!("{e}{still}")))
        }
    }
}

/// How the rest of the fleet follows a reload of this replica.
fn fleet_note(watch: Option<std::time::Duration>) -> String {
    match watch {
        Some(every) => format!(
            "this replica reloaded now; every replica checks the production pointer every {} s \
             and reloads itself (model_info{{version}} per replica shows a split fleet)",
            every.as_secs()
        ),
        None => "this replica reloaded now; the production pointer is not watched \
                 (MODEL_WATCH_SECONDS=0): other replicas keep their model until reloaded"
            .into(),
    }
}

#[utoipa::path(get, path = "/model-info", responses((status = 200, description = "name, version, run id, metrics, training-data md5, input schema, loaded-at time"), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn model_info(
    State(state): State<SharedState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let model = state.model.current().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
            "no model is loaded",
        )
    })?;
    let card = model.card();
    Ok(Json(json!({
        "name": card.name,
        "version": model.version,
        "run_id": model.run_id,
        "metrics": card.metrics,
        "training_data_md5": card.training_data_md5,
        "input": card.input,
        "normalisation": card.normalisation,
        "label_names": card.label_names,
        "architecture": card.architecture,
        "weights_md5": card.weights_md5,
        "created_at": card.created_at,
        "loaded_at": model.loaded_at,
        "source": model.source,
        "threshold": threshold_of(&state, &model).0,
        "threshold_source": threshold_of(&state, &model).1.as_str(),
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// 1 to 500; default 50.
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/logs", params(LogQuery), responses((status = 200, body = Page), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn logs(
    State(state): State<SharedState>,
    caller: Authenticated,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    caller.require_admin()?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    state
        .log
        .page(limit, query.cursor.as_deref())
        .await
        .map(Json)
        .map_err(|e| match e {
            crate::audit::AuditError::BadCursor(_) => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other),
        })
}
