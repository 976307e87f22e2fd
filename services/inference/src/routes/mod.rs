//! The HTTP surface: every route of the service and its OpenAPI document. The router is the
//! whole app (body limits, timeouts, metrics included), so `serve` and the tests build the
//! same thing. Routes call the service layer and read the state; nothing below imports them.
//! Every error is JSON `{error, message}`.

pub mod admin;
pub mod alarms;
pub mod health;
pub mod monitor;
pub mod patients;
pub mod predict;
pub mod ui;
pub mod v2;

use auth_tokens::Role;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use http_kit::{BearerAuth, ErrorBody};
use utoipa::OpenApi;

use crate::audit::{Page, PredictionRecord, RecordedDecision};
use crate::service::monitor as session;
use crate::service::scoring::{OodSummary, PredictionResponse, RecordingScore};
use crate::state::SharedState;

/// The roles that may predict, read patients and monitor.
pub(crate) const PREDICTING_ROLES: [Role; 2] = [Role::Clinician, Role::Admin];

pub fn router(state: SharedState) -> Router {
    let http_metrics = state.metrics.http.clone();
    let timeout = state.settings.request_timeout;
    let max_body_bytes = state.settings.bodies.max_body_bytes;
    let router = Router::new()
        .route("/predict/{patient_id}", get(predict::predict_patient))
        .route("/predict", post(predict::predict_signals))
        .route("/reload-model", post(admin::reload_model))
        .route("/model-info", get(admin::model_info))
        .route("/logs", get(admin::logs))
        .route("/health/live", get(http_kit::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .merge(v2::routes())
        .route("/patients", get(patients::list_patients))
        .route("/patients/verdicts", get(patients::patient_verdicts))
        .route("/alarms", get(alarms::list_alarms))
        .route(
            "/alarms/{alarm_id}/acknowledge",
            post(alarms::acknowledge_alarm),
        )
        .route(
            "/patients/{patient_id}/recordings",
            get(patients::patient_recordings),
        )
        .merge(monitor::routes())
        .merge(ui::routes(state.settings.ui_auth.clone()))
        .merge(http_kit::docs(ApiDoc::openapi()))
        .fallback(http_kit::not_found)
        .with_state(state.clone())
        // Bodies in memory, all requests together and per user: inside the standard layers, so a 503 of
        // the budget carries their headers and is counted, and the request timeout ends
        // what a request holds.
        .layer(axum::middleware::from_fn_with_state(
            http_kit::BodyBudget::with_caps(state.settings.bodies),
            http_kit::limit_bodies,
        ));
    http_kit::standard_layers(router, timeout)
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            http_metrics::HttpMetrics::layer,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// The OpenAPI document, generated from the handlers above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "seizure-ops inference", description = "Seizure predictions per patient or per batch of raw EEG recordings"),
    paths(predict::predict_patient, predict::predict_signals, admin::reload_model, admin::model_info, admin::logs, health::ready, health::metrics,
        v2::server_metadata, v2::server_live, v2::server_ready, v2::model_metadata, v2::version_metadata,
        v2::model_ready, v2::version_ready, v2::infer, v2::version_infer,
        monitor::http::open_session, monitor::http::session_status, monitor::http::push_samples,
        monitor::http::close_session, patients::list_patients, patients::patient_recordings, patients::patient_verdicts,
        alarms::list_alarms, alarms::acknowledge_alarm),
    components(schemas(PredictionResponse, RecordingScore, OodSummary, predict::SignalsBody, admin::ReloadResponse, Page, PredictionRecord, RecordedDecision, ErrorBody,
        v2::ServerMetadata, v2::Live, v2::Ready, v2::ModelMetadata, v2::TensorMetadata, v2::InferRequest, v2::InputTensor,
        v2::RequestedOutput, v2::InferResponse, v2::OutputTensor, v2::V2ErrorBody,
        session::OpenBody, session::SessionInfo, session::PushBody, session::PushAnswer,
        patients::PatientList, patients::PatientSignal,
        crate::verdicts::VerdictList, crate::verdicts::PatientVerdict, alarms::AlarmList,
        crate::service::alarms::AlarmView, crate::service::alarms::Acknowledged)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// A path segment as a span records it: at most 64 bytes (cut at a character boundary), so a
/// client's hostile path cannot fill the logs or a trace collector. The logs escape control
/// characters; the value is what the client sent, before it is parsed.
pub(crate) fn span_text(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod span_text_tests {
    use super::span_text;

    #[test]
    fn long_and_multibyte_segments_are_cut_at_a_character() {
        assert_eq!(span_text("42"), "42");
        assert_eq!(span_text(&"x".repeat(10_000)).len(), 64);
        let multibyte = "é".repeat(100);
        let cut = span_text(&multibyte);
        assert!(cut.len() <= 64 && cut.chars().all(|c| c == 'é'));
    }
}
