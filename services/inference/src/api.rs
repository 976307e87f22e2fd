//! HTTP endpoints. Every error is JSON `{error, message}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use auth_tokens::{Role, Verifier};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use patient_store::PatientStore;
use seizure_model::PredictError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::OpenApi;

use http_kit::{ApiError, Authenticated, BearerAuth, ErrorBody, RequestId, VerifierState};

use std::sync::atomic::AtomicBool;

use eeg_data::SAMPLES_PER_RECORDING;

use crate::admission::{Refusal, Ticket};
use crate::audit::{now_micros, Page, PredictionLog, PredictionRecord};
use crate::metrics::InferenceMetrics;
use crate::model::{LoadError, LoadedModel, ModelSlot, ReleaseSource};
use crate::monitor;
use crate::patients;
use crate::v2;
use seizure_model::ThresholdSource;

/// The most recordings one `POST /predict` may carry.
pub const MAX_RECORDINGS: usize = 1000;
pub(crate) const PREDICTING_ROLES: [Role; 2] = [Role::Clinician, Role::Admin];

pub struct Settings {
    pub release: ReleaseSource,
    pub patient_store_dir: PathBuf,
    /// Overrides the model card's decision threshold, if set.
    pub threshold: Option<f64>,
    /// Who answers, e.g. `inference@host`.
    pub instance: String,
    pub request_timeout: std::time::Duration,
    /// Overrides the model card's bound on absolute raw sample values, if set.
    pub max_abs_sample: Option<f64>,
    /// How long shutdown waits for the audit log before spilling what is left.
    pub audit_shutdown_grace: std::time::Duration,
    pub limits: http_kit::ServerLimits,
    /// How often each replica checks the production pointer (`None`: not watched).
    pub model_watch: Option<std::time::Duration>,
    /// Largest WebSocket message accepted (the body limit of the HTTP endpoints).
    pub max_message_bytes: usize,
    /// Request bodies in flight, all together (`MAX_BODY_BYTES_IN_FLIGHT`).
    pub body_bytes_in_flight: usize,
    /// Where the page at /ui/ logs in (`UI_AUTH_URL`).
    pub ui_auth: Option<crate::ui::AuthUrl>,
}

pub struct AppState {
    pub model: ModelSlot,
    pub patients: ArcSwapOption<PatientStore>,
    pub log: PredictionLog,
    pub metrics: InferenceMetrics,
    pub verifier: Arc<Verifier>,
    pub settings: Settings,
    /// One reload at a time.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The production release this replica last loaded or refused: the pointer watch
    /// compares against it.
    pub settled: crate::reload::Settled,
    /// Prediction work in progress, per user and in all.
    pub admission: Arc<crate::admission::Admission>,
    /// Open bedside monitoring sessions.
    pub sessions: crate::monitor::Sessions,
    /// The sliding window of scored windows for fleet-wide drift.
    pub drift: crate::fleet_drift::FleetDrift,
    /// Reads of patients' signals, per user (`SIGNAL_READS_PER_MINUTE`).
    pub signal_reads: crate::quota::PerUser,
}

impl VerifierState for AppState {
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

pub(crate) type SharedState = Arc<AppState>;

pub fn router(state: SharedState) -> Router {
    let http_metrics = state.metrics.http.clone();
    let timeout = state.settings.request_timeout;
    let router = Router::new()
        .route("/predict/{patient_id}", get(predict_patient))
        .route("/predict", post(predict_signals))
        .route("/reload-model", post(reload_model))
        .route("/model-info", get(model_info))
        .route("/logs", get(logs))
        .route("/health/live", get(http_kit::live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(crate::v2::routes())
        .route("/patients", get(crate::patients::list_patients))
        .route(
            "/patients/{patient_id}/recordings",
            get(crate::patients::patient_recordings),
        )
        .merge(crate::monitor::routes())
        .merge(crate::ui::routes(state.settings.ui_auth.clone()))
        .merge(http_kit::docs(ApiDoc::openapi()))
        .fallback(http_kit::not_found)
        .with_state(state.clone())
        // Bodies in memory, all requests together: inside the standard layers, so a 503 of
        // the budget carries their headers and is counted, and the request timeout ends
        // what a request holds.
        .layer(axum::middleware::from_fn_with_state(
            http_kit::BodyBudget::new(
                state.settings.body_bytes_in_flight,
                state.settings.max_message_bytes,
            ),
            http_kit::limit_bodies,
        ));
    http_kit::standard_layers(router, timeout).layer(axum::middleware::from_fn_with_state(
        http_metrics,
        http_metrics::HttpMetrics::layer,
    ))
}

/// One recording's score.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingScore {
    /// Position in the patient's (or the request's) recordings, from 0.
    pub index: usize,
    /// The recording's one-second chunk number in the source data (patients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u8>,
    pub probability: f64,
    /// `seizure` or `non-seizure`.
    pub prediction: String,
    /// How unlike the training windows the recording is, when the model carries a drift
    /// profile: `{score, flagged, feature}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ood: Option<bedside::WindowOod>,
}

/// The recordings unlike anything in training: an answer on them is not to be trusted,
/// however confident.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OodSummary {
    /// Indices of the recordings flagged out of distribution.
    pub flagged_recordings: Vec<usize>,
    /// The largest score of the request's recordings.
    pub max_score: f64,
    /// Scores above this are flagged (the training windows' 99.9th percentile).
    pub threshold: f64,
}

/// A prediction for one patient or one batch of recordings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PredictionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<u64>,
    pub model_version: String,
    pub recordings: usize,
    /// The mean of the recordings' probabilities (the rule evaluation uses per patient).
    pub seizure_probability: f64,
    /// `seizure` when `seizure_probability >= threshold`, else `non-seizure`.
    pub prediction: String,
    pub threshold: f64,
    /// `model_card` (chosen on validation by training, as evaluated), `override`
    /// (`PREDICTION_THRESHOLD`) or `fallback` (0.5, a card older than the rule).
    pub threshold_source: String,
    /// Indices of the recordings at or above the threshold.
    pub epileptic_recordings: Vec<usize>,
    pub per_recording: Vec<RecordingScore>,
    /// Present when the model carries a drift profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_distribution: Option<OodSummary>,
    pub processed_by: String,
}

fn label(model: &LoadedModel, seizure: bool) -> String {
    let names = &model.card().label_names;
    let name = names.get(usize::from(seizure)).map(String::as_str);
    name.unwrap_or(if seizure { "seizure" } else { "non-seizure" })
        .to_owned()
}

/// The largest absolute raw sample the served model accepts (its card's, or the override).
pub(crate) fn input_bound(state: &AppState, model: &LoadedModel) -> f64 {
    state
        .settings
        .max_abs_sample
        .unwrap_or(model.card().input.max_abs_sample)
}

/// Recordings scored per forward pass; between passes, work whose request is gone stops.
const RECORDINGS_PER_PASS: usize = 128;

/// Admits prediction work for `user`, or answers 429 (this user has enough in progress) or
/// 503 (the service has).
/// Also 503 while answers could not be recorded (the audit database and its spill file both
/// failing): no prediction goes unaudited.
pub(crate) fn admit(state: &AppState, user: &str) -> Result<Ticket, ApiError> {
    if let Some(spill_error) = state.log.not_durable() {
        state.metrics.outcome("audit_unavailable");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!(
                "predictions cannot be recorded (spill file: {spill_error}); none are answered until they can"
            ),
        )
        .retry_after(5));
    }
    state.admission.admit(user).map_err(|refusal| {
        state.metrics.outcome("overloaded");
        match refusal {
            Refusal::UserBusy { limit } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_predictions",
                format!("you have {limit} predictions in progress; wait for one to finish"),
            )
            .retry_after(1),
            Refusal::Saturated { limit } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!("{limit} predictions are in progress; try again shortly"),
            )
            .retry_after(1),
        }
    })
}

/// Scores `samples` (row-major raw recordings) in batched forward passes, stopping early if
/// `cancel` is set. A non-finite probability is never turned into a class: it is a 500
/// naming the recording.
fn score(
    state: &AppState,
    model: &LoadedModel,
    samples: &[f32],
    patient_id: Option<u64>,
    chunks: Option<&[u8]>,
    cancel: &AtomicBool,
    sender: Option<&str>,
) -> Result<PredictionResponse, ApiError> {
    let started = Instant::now();
    let mut probabilities = Vec::with_capacity(samples.len() / SAMPLES_PER_RECORDING);
    for pass in samples.chunks(RECORDINGS_PER_PASS * SAMPLES_PER_RECORDING) {
        if Ticket::cancelled(cancel) {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cancelled",
                "the request ended before its prediction was done",
            ));
        }
        probabilities.extend(model.predictor.predict(pass));
    }
    if let Some(index) = probabilities.iter().position(|p| !p.is_finite()) {
        state.metrics.outcome("non_finite_output");
        tracing::error!(
            model_version = %model.version,
            recording = index,
            "the model returned a non-finite probability; no answer given"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "non_finite_output",
            format!(
                "model version {} returned a non-finite probability for recording {index}; \
                 no prediction is given",
                model.version
            ),
        ));
    }
    state
        .metrics
        .prediction_seconds
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .recordings_scored
        .inc_by(probabilities.len() as u64);
    let (threshold, source) = threshold_of(state, model);
    let as_f64: Vec<f64> = probabilities.iter().map(|&p| f64::from(p)).collect();
    let seizure_probability = seizure_model::patient_probability(&as_f64);
    // Incoming signals (`sender`'s) join the fleet's drift window; the patient store's do not
    // (reading a patient again is not new input, and would let one caller fill the window).
    let ood = out_of_distribution(state, model, samples, &as_f64, sender);
    let per_recording: Vec<RecordingScore> = as_f64
        .iter()
        .enumerate()
        .map(|(index, &probability)| RecordingScore {
            index,
            chunk: chunks.and_then(|c| c.get(index).copied()),
            probability,
            prediction: label(model, probability >= threshold),
            ood: ood.as_ref().map(|(scores, _)| scores[index].clone()),
        })
        .collect();
    Ok(PredictionResponse {
        patient_id,
        model_version: model.version.clone(),
        recordings: per_recording.len(),
        seizure_probability,
        prediction: label(model, seizure_probability >= threshold),
        threshold,
        threshold_source: source.as_str().to_owned(),
        epileptic_recordings: per_recording
            .iter()
            .filter(|r| r.probability >= threshold)
            .map(|r| r.index)
            .collect(),
        per_recording,
        out_of_distribution: ood.map(|(_, summary)| summary),
        processed_by: state.settings.instance.clone(),
    })
}

/// With a drift profile: each recording's OOD score (counted in metrics) and the summary;
/// recordings a `sender` posted also join the fleet-wide drift window as theirs (within
/// their share), called at the card's threshold (the one the profile was calibrated with,
/// whatever override is in force), but for the patient store's own recordings posted back.
fn out_of_distribution(
    state: &AppState,
    model: &LoadedModel,
    samples: &[f32],
    probabilities: &[f64],
    sender: Option<&str>,
) -> Option<(Vec<bedside::WindowOod>, OodSummary)> {
    let profile = model.predictor.profile()?;
    let features = state.drift.features(samples);
    if let Some(sender) = sender {
        let card_threshold = model.card().threshold().0;
        let known = state
            .drift
            .known_recordings(state.patients.load_full().as_ref(), samples);
        let (new_features, called): (Vec<drift::Features>, Vec<bool>) = features
            .iter()
            .zip(probabilities)
            .zip(&known)
            .filter(|(_, &known)| !known)
            .map(|((f, &p), _)| (*f, p >= card_threshold))
            .unzip();
        let serving = state.model.current();
        state.drift.observe(
            serving.as_ref().map(|m| m.version.as_str()),
            &model.version,
            profile,
            sender,
            &new_features,
            &called,
        );
    }
    let scores: Vec<bedside::WindowOod> = features
        .iter()
        .map(|f| bedside::WindowOod::of(profile.ood.score(f)))
        .collect();
    let flagged_recordings: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].flagged).collect();
    state
        .metrics
        .drift
        .ood_windows
        .with_label_values(&["predict"])
        .inc_by(flagged_recordings.len() as u64);
    let summary = OodSummary {
        flagged_recordings,
        max_score: scores.iter().map(|s| s.score).fold(0.0, f64::max),
        threshold: profile.ood.threshold,
    };
    Some((scores, summary))
}

/// The threshold in force for `model`: the override, or the one in its card.
pub(crate) fn threshold_of(state: &AppState, model: &LoadedModel) -> (f64, ThresholdSource) {
    match state.settings.threshold {
        Some(value) => (value, ThresholdSource::Override),
        None => model.card().threshold(),
    }
}

pub(crate) fn serving_model(state: &AppState) -> Result<Arc<LoadedModel>, ApiError> {
    state.model.current().ok_or_else(|| {
        state.metrics.outcome("no_model");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
            "no model is loaded yet; promote one and POST /reload-model",
        )
    })
}

/// The patient store for `model`: refused (503) when its patients may be segments the
/// model was trained on (built from another data version than the model's training data).
fn patient_store_for(state: &AppState, model: &LoadedModel) -> Result<Arc<PatientStore>, ApiError> {
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
    let store = PatientStore::open(&state.settings.patient_store_dir).map_err(|e| {
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

async fn audit(
    state: &AppState,
    claims: &auth_tokens::Claims,
    request_id: &RequestId,
    answer: &PredictionResponse,
) -> Result<(), ApiError> {
    let at_us = now_micros();
    let record = PredictionRecord {
        id: auth_tokens::random_id(),
        at: String::new(),
        at_us,
        username: claims.sub.clone(),
        role: claims.role.as_str().to_owned(),
        request_id: Some(request_id.0.clone()),
        patient_id: answer.patient_id,
        model_version: answer.model_version.clone(),
        recordings: answer.recordings,
        seizure_probability: answer.seizure_probability,
        prediction: answer.seizure_probability >= answer.threshold,
        epileptic_recordings: answer.epileptic_recordings.clone(),
        kind: crate::audit::KIND_PREDICTION.to_owned(),
        session_id: None,
    };
    state.log.record(record).await.map_err(ApiError::internal)
}

fn count_outcome(state: &AppState, answer: &PredictionResponse) {
    let seizure = answer.seizure_probability >= answer.threshold;
    state
        .metrics
        .outcome(if seizure { "seizure" } else { "no_seizure" });
}

/// Runs a user's admitted CPU work of `windows` windows off the async workers. Work of more
/// than one scoring pass (128 windows) waits for the user's turn (half the cores per user);
/// smaller work (a patient's 23 recordings, a real-time push) runs at once, as it takes
/// milliseconds.
pub(crate) async fn blocking_as<T: Send + 'static>(
    ticket: &Ticket,
    windows: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = match windows > RECORDINGS_PER_PASS {
        true => Some(ticket.turn().await),
        false => None,
    };
    blocking(work).await
}

/// Runs CPU work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

#[utoipa::path(get, path = "/predict/{patient_id}", params(("patient_id" = u64, Path, description = "the patient's id in the patient store")),
    responses((status = 200, body = PredictionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
async fn predict_patient(
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
async fn predict_signals(
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

/// Scores checked raw recordings (row-major samples) for `claims`' user: admitted (429/503
/// over the limits), scored off the async workers, counted and audited. The one path behind
/// `POST /predict` and the Open Inference Protocol's `infer`.
pub(crate) async fn predict_recordings(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    request_id: &RequestId,
    model: Arc<LoadedModel>,
    samples: Vec<f32>,
) -> Result<PredictionResponse, ApiError> {
    let ticket = admit(state, &claims.sub)?;
    let cancel = ticket.cancellation();
    let worker = state.clone();
    let sender = claims.sub.clone();
    let windows = samples.len() / SAMPLES_PER_RECORDING;
    let answer = blocking_as(&ticket, windows, move || {
        score(
            &worker,
            &model,
            &samples,
            None,
            None,
            &cancel,
            Some(&sender),
        )
    })
    .await?;
    drop(ticket);
    count_outcome(state, &answer);
    audit(state, claims, request_id, &answer).await?;
    Ok(answer)
}

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
async fn reload_model(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<ReloadResponse>, ApiError> {
    let claims = caller.require_admin()?.clone();
    match crate::reload::reload(&state, &claims.sub).await {
        Ok(done) => Ok(Json(ReloadResponse {
            status: "reloaded".into(),
            old_version: done.old_version,
            new_version: done.new_version,
            loaded_at: done.loaded_at,
            replica: state.settings.instance.clone(),
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
async fn model_info(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
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
async fn logs(
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

#[utoipa::path(get, path = "/health/ready", responses((status = 200), (status = 503, body = ErrorBody)))]
pub(crate) async fn ready(State(state): State<SharedState>) -> Response {
    let Some(model) = state.model.current() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no model is loaded",
        )
        .into_response();
    };
    // A database outage alone does not take the service out of rotation: answers are kept
    // in the spill file meanwhile (`audit.healthy` false, status "degraded"). Only when the
    // spill file fails too could an answer go unrecorded: then the service is not ready.
    let audit = state.log.health();
    if !audit.durable {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "answers cannot be recorded: the database fails ({}) and so does the spill file ({})",
                audit.last_error.as_deref().unwrap_or("?"),
                audit.spill_error.as_deref().unwrap_or("?")
            ),
        )
        .into_response();
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
    Json(json!({
        "status": status,
        "model_version": model.version,
        "audit": audit,
        "patients": patients,
    }))
    .into_response()
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(state): State<SharedState>) -> Response {
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

/// The OpenAPI document, generated from the handlers above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "seizure-ops inference", description = "Seizure predictions per patient or per batch of raw EEG recordings"),
    paths(predict_patient, predict_signals, reload_model, model_info, logs, ready, metrics,
        v2::server_metadata, v2::server_live, v2::server_ready, v2::model_metadata, v2::version_metadata,
        v2::model_ready, v2::version_ready, v2::infer, v2::version_infer,
        monitor::http::open_session, monitor::http::session_status, monitor::http::push_samples,
        monitor::http::close_session, patients::list_patients, patients::patient_recordings),
    components(schemas(PredictionResponse, RecordingScore, OodSummary, SignalsBody, ReloadResponse, Page, PredictionRecord, ErrorBody,
        v2::ServerMetadata, v2::Live, v2::Ready, v2::ModelMetadata, v2::TensorMetadata, v2::InferRequest, v2::InputTensor,
        v2::RequestedOutput, v2::InferResponse, v2::OutputTensor, v2::V2ErrorBody,
        monitor::OpenBody, monitor::SessionInfo, monitor::PushBody, monitor::PushAnswer,
        patients::PatientList, patients::PatientSignal)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
