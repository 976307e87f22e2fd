//! The Open Inference Protocol (KServe V2, REST), so KServe, Triton and MLServer clients
//! (e.g. `tritonclient.http`) work against this service: server and model health and
//! metadata, and `infer` with JSON tensors. Inference goes through the same path as
//! `POST /predict`: the same token and roles, admission limits, input validation, audit
//! record and metrics. Errors have the protocol's shape, `{"error": "..."}`.
//!
//! The model takes one input, `recordings`: FP32 (FP64 accepted) of shape `[n, 178]`, raw
//! samples, 1 <= n <= 1000, flat row-major or nested `data`. It answers `probability` (FP32,
//! `[n]`, each recording's seizure probability) and `seizure` (BOOL, `[n]`, at or above the
//! model's decision threshold); the response's `parameters` carry the threshold and the
//! patient-level answer (mean probability), as `/predict` gives them. Binary tensor data
//! (the protocol's binary extension) is refused for inputs; outputs are always JSON, which
//! clients read whatever they asked for.

mod request;
mod tensor;

use request::{parse_request, recordings_of};
pub use request::{InferRequest, InferResponse, InputTensor, OutputTensor, RequestedOutput};

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use http_kit::{ApiError, Authenticated, RequestId};
use serde::Serialize;
use serde_json::json;

use eeg_data::SAMPLES_PER_RECORDING;

use crate::model::LoadedModel;
use crate::routes::PREDICTING_ROLES;
use crate::service::readiness::readiness;
use crate::service::scoring::{input_bound, predict_recordings, serving_model};
use crate::state::{AppState, SharedState};

/// The one input tensor's name.
pub const INPUT: &str = "recordings";
/// The output tensors' names.
pub const OUTPUTS: [&str; 2] = ["probability", "seizure"];

/// The protocol's routes, on the service's state.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(server_live))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
        // A known route, another method: 405 in the protocol's shape.
        .method_not_allowed_fallback(method_not_allowed)
        .route("/v2/{*rest}", any(unknown_route))
}

async fn method_not_allowed() -> V2Error {
    V2Error(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this route",
    ))
}

async fn unknown_route() -> V2Error {
    not_found("no such Open Inference Protocol route")
}

/// The caller's token, checked before the body is read, refused in the protocol's shape.
pub struct V2Caller(Authenticated);

impl FromRequestParts<Arc<AppState>> for V2Caller {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, V2Error> {
        Ok(Self(Authenticated::from_request_parts(parts, state).await?))
    }
}

/// An error in the protocol's shape, `{"error": message}`, keeping the status and headers
/// (`WWW-Authenticate`, `Retry-After`) of the service's own error.
#[derive(Debug)]
pub struct V2Error(ApiError);

impl From<ApiError> for V2Error {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.0.message }).to_string();
        let mut response = self.0.into_response();
        *response.body_mut() = Body::from(body);
        response
            .headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
        response
    }
}

/// The protocol's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct V2ErrorBody {
    pub error: String,
}

fn bad_request(message: impl Into<String>) -> V2Error {
    V2Error(ApiError::bad_request(message))
}

fn not_found(message: impl Into<String>) -> V2Error {
    V2Error(ApiError::not_found(message))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

#[utoipa::path(get, path = "/v2", tag = "open-inference-protocol",
    responses((status = 200, body = ServerMetadata)))]
pub(crate) async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "seizure-ops-inference".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        extensions: Vec::new(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Live {
    pub live: bool,
}

#[utoipa::path(get, path = "/v2/health/live", tag = "open-inference-protocol",
    responses((status = 200, body = Live)))]
pub(crate) async fn server_live() -> Json<Live> {
    Json(Live { live: true })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    pub ready: bool,
}

fn ready_answer(ready: bool) -> Response {
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Ready { ready })).into_response()
}

/// Ready exactly when `/health/ready` is (a model loaded, answers recordable).
#[utoipa::path(get, path = "/v2/health/ready", tag = "open-inference-protocol",
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) async fn server_ready(State(state): State<SharedState>) -> Response {
    ready_answer(readiness(&state).is_ok())
}

/// The served model if it is `name` (and `version`, when given): 404 otherwise, saying
/// what is served.
fn model_named(
    model: Arc<LoadedModel>,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedModel>, V2Error> {
    let served = &model.card().name;
    if name != served {
        return Err(not_found(format!(
            "no model {name:?}; this service serves {served:?}"
        )));
    }
    if let Some(version) = version.filter(|v| *v != model.version) {
        return Err(not_found(format!(
            "model {name:?} version {version:?} is not loaded; version {} is served",
            model.version
        )));
    }
    Ok(model)
}

/// The loaded model, for metadata and readiness (not counted as a refused prediction).
fn loaded(state: &SharedState) -> Result<Arc<LoadedModel>, V2Error> {
    state.model.current().ok_or_else(|| {
        V2Error(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
            "no model is loaded",
        ))
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    /// -1 is any size.
    pub shape: Vec<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

fn metadata(model: &LoadedModel) -> ModelMetadata {
    let tensor = |name: &str, datatype: &str, shape: &[i64]| TensorMetadata {
        name: name.into(),
        datatype: datatype.into(),
        shape: shape.to_vec(),
    };
    ModelMetadata {
        name: model.card().name.clone(),
        versions: vec![model.version.clone()],
        platform: "seizure-ops-lstm".into(),
        inputs: vec![tensor(INPUT, "FP32", &[-1, SAMPLES_PER_RECORDING as i64])],
        outputs: vec![
            tensor(OUTPUTS[0], "FP32", &[-1]),
            tensor(OUTPUTS[1], "BOOL", &[-1]),
        ],
    }
}

#[utoipa::path(get, path = "/v2/models/{name}", tag = "open-inference-protocol",
    params(("name" = String, Path, description = "the registered model name, e.g. seizure-lstm")),
    responses((status = 200, body = ModelMetadata), (status = 404, body = V2ErrorBody), (status = 503, body = V2ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn model_metadata(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<ModelMetadata>, V2Error> {
    let model = model_named(loaded(&state)?, &name, None)?;
    Ok(Json(metadata(&model)))
}

#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}", tag = "open-inference-protocol",
    params(("name" = String, Path), ("version" = String, Path, description = "the registry version")),
    responses((status = 200, body = ModelMetadata), (status = 404, body = V2ErrorBody), (status = 503, body = V2ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn version_metadata(
    State(state): State<SharedState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, V2Error> {
    let model = model_named(loaded(&state)?, &name, Some(&version))?;
    Ok(Json(metadata(&model)))
}

#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "open-inference-protocol",
    params(("name" = String, Path)),
    responses((status = 200, body = Ready), (status = 404, body = V2ErrorBody), (status = 503, body = V2ErrorBody)))]
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) async fn model_ready(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Response, V2Error> {
    model_ready_response(state, &name, None).await
}

#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}/ready", tag = "open-inference-protocol",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = Ready), (status = 404, body = V2ErrorBody), (status = 503, body = V2ErrorBody)))]
#[tracing::instrument(skip_all, level = "debug")]
pub(crate) async fn version_ready(
    State(state): State<SharedState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, V2Error> {
    model_ready_response(state, &name, Some(&version)).await
}

/// Ready when this model (and version) is the one loaded and the service is ready; no model
/// loaded at all is `{"ready": false}` (503), another name or version a 404.
async fn model_ready_response(
    state: SharedState,
    name: &str,
    version: Option<&str>,
) -> Result<Response, V2Error> {
    match state.model.current() {
        None => Ok(ready_answer(false)),
        Some(model) => {
            model_named(model, name, version)?;
            Ok(ready_answer(readiness(&state).is_ok()))
        }
    }
}

#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "open-inference-protocol",
    params(("name" = String, Path)), request_body = InferRequest,
    responses((status = 200, body = InferResponse), (status = 400, body = V2ErrorBody), (status = 401, body = V2ErrorBody),
        (status = 403, body = V2ErrorBody), (status = 404, body = V2ErrorBody), (status = 413, body = V2ErrorBody),
        (status = 429, body = V2ErrorBody), (status = 500, body = V2ErrorBody), (status = 503, body = V2ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn infer(
    state: State<SharedState>,
    caller: V2Caller,
    request_id: Extension<RequestId>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, V2Error> {
    infer_version(state, caller, request_id, name, None, headers, body).await
}

#[utoipa::path(post, path = "/v2/models/{name}/versions/{version}/infer", tag = "open-inference-protocol",
    params(("name" = String, Path), ("version" = String, Path)), request_body = InferRequest,
    responses((status = 200, body = InferResponse), (status = 400, body = V2ErrorBody), (status = 401, body = V2ErrorBody),
        (status = 403, body = V2ErrorBody), (status = 404, body = V2ErrorBody), (status = 413, body = V2ErrorBody),
        (status = 429, body = V2ErrorBody), (status = 500, body = V2ErrorBody), (status = 503, body = V2ErrorBody)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn version_infer(
    state: State<SharedState>,
    caller: V2Caller,
    request_id: Extension<RequestId>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, V2Error> {
    infer_version(
        state,
        caller,
        request_id,
        name,
        Some(version),
        headers,
        body,
    )
    .await
}

async fn infer_version(
    State(state): State<SharedState>,
    caller: V2Caller,
    Extension(request_id): Extension<RequestId>,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InferResponse>, V2Error> {
    let claims = caller.0.require(&PREDICTING_ROLES)?.clone();
    let invalid = |error: V2Error| {
        state.metrics.outcome("invalid_input");
        error
    };
    // The protocol's body is JSON whatever the Content-Type says (tritonclient sends none).
    let body = body.map_err(|e| {
        invalid(V2Error(ApiError::new(
            e.status(),
            "bad_body",
            e.body_text(),
        )))
    })?;
    // The binary extension: a JSON header of this length, then raw tensor bytes. A header
    // that is the whole body is plain JSON.
    if let Some(json_length) = headers.get("inference-header-content-length") {
        let whole = json_length
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            == Some(body.len());
        if !whole {
            return Err(invalid(bad_request(
                "binary tensor data is not supported: send the input as JSON `data` \
                 (tritonclient: set_data_from_numpy(..., binary_data=False))",
            )));
        }
    }
    let request = parse_request(&body).map_err(invalid)?;
    drop(body);
    let model = model_named(serving_model(&state)?, &name, version.as_deref())?;
    let request_id_echo = request.id.clone();
    let (samples, outputs_asked) = recordings_of(request).map_err(invalid)?;
    let recordings: Vec<&[f64]> = samples.chunks(SAMPLES_PER_RECORDING).collect();
    seizure_model::predictor::check_recordings(&recordings, input_bound(&state, &model))
        .map_err(|e| invalid(bad_request(e.to_string())))?;
    let samples: Vec<f32> = samples.iter().map(|&v| v as f32).collect();
    let answer = predict_recordings(&state, &claims, &request_id, model.clone(), samples).await?;

    let n = answer.per_recording.len() as u64;
    let wanted = |output: &str| {
        outputs_asked
            .as_ref()
            .is_none_or(|asked| asked.iter().any(|name| name == output))
    };
    let mut outputs = Vec::new();
    if wanted(OUTPUTS[0]) {
        outputs.push(OutputTensor {
            name: OUTPUTS[0].into(),
            datatype: "FP32".into(),
            shape: vec![n],
            data: answer
                .per_recording
                .iter()
                .map(|r| json!(r.probability as f32))
                .collect(),
        });
    }
    if wanted(OUTPUTS[1]) {
        outputs.push(OutputTensor {
            name: OUTPUTS[1].into(),
            datatype: "BOOL".into(),
            shape: vec![n],
            data: answer
                .per_recording
                .iter()
                .map(|r| json!(r.probability >= answer.threshold))
                .collect(),
        });
    }
    Ok(Json(InferResponse {
        model_name: model.card().name.clone(),
        model_version: answer.model_version.clone(),
        id: request_id_echo,
        parameters: json!({
            "threshold": answer.threshold,
            "threshold_source": answer.threshold_source,
            "seizure_probability": answer.seizure_probability,
            "prediction": answer.prediction,
            "patient_rule": answer.patient_rule,
            "patient_score": answer.patient_score,
            "patient_threshold": answer.patient_threshold,
            "patient_threshold_source": answer.patient_threshold_source,
            "decision_basis": answer.decision_basis,
            "processed_by": answer.processed_by,
        }),
        outputs,
    }))
}
