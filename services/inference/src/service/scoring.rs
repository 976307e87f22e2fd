//! Scoring: raw recordings through the served model in batched passes, the threshold in
//! force, the out-of-distribution scores and the fleet's drift window, the answer counted and
//! audited. One path behind `GET /predict/{id}`, `POST /predict` and the Open Inference
//! Protocol's `infer`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use eeg_data::SAMPLES_PER_RECORDING;
use http_kit::{ApiError, RequestId};
use seizure_model::{MaxAbsSample, ThresholdSource};
use serde::Serialize;

use crate::admission::Ticket;
use crate::audit::{now_micros, PredictionRecord};
use crate::model::LoadedModel;
use crate::service::work::{admit, blocking_as, RECORDINGS_PER_PASS};
use crate::state::{AppState, SharedState};

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
    /// The mean of the recordings' probabilities.
    pub seizure_probability: f64,
    /// The patient decision: `seizure` when `patient_score >= patient_threshold`, else
    /// `non-seizure`.
    pub prediction: String,
    /// The patient rule (`mean_probability` or `positive_fraction`), the recordings' score by
    /// it, and the threshold it is called at.
    pub patient_rule: String,
    pub patient_score: f64,
    pub patient_threshold: f64,
    /// `model_card` or `override` (`PATIENT_THRESHOLD`).
    pub patient_threshold_source: String,
    /// The window decision: each recording is `seizure` at or above this.
    pub threshold: f64,
    /// `model_card` (as evaluated), `override` (`PREDICTION_THRESHOLD`) or `fallback` (0.5, a
    /// card older than any rule).
    pub threshold_source: String,
    /// How the card's decisions were chosen: `out_of_fold` (three decisions), `validation`
    /// (an earlier card: one threshold, the patient called by the mean against it) or `none`.
    pub decision_basis: String,
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
        .map_or(model.card().input.max_abs_sample, MaxAbsSample::into_inner)
}

/// Scores `samples` (row-major raw recordings) in batched forward passes, stopping early if
/// `cancel` is set. A non-finite probability is never turned into a class: it is a 500
/// naming the recording.
#[tracing::instrument(skip_all)]
pub(crate) fn score(
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
    let (call, patient_source) = patient_call_of(state, model, threshold);
    let patient_score = call.score(&as_f64);
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
        prediction: label(model, patient_score >= call.threshold),
        patient_rule: call.rule.as_str().to_owned(),
        patient_score,
        patient_threshold: call.threshold,
        patient_threshold_source: patient_source.as_str().to_owned(),
        threshold,
        threshold_source: source.as_str().to_owned(),
        decision_basis: model.card().decision_basis().to_owned(),
        epileptic_recordings: per_recording
            .iter()
            .filter(|r| r.probability >= threshold)
            .map(|r| r.index)
            .collect(),
        per_recording,
        out_of_distribution: ood.map(|(_, summary)| summary),
        processed_by: state.instance.clone(),
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
        let known =
            state
                .drift
                .known_recordings(state.patients.load_full().as_ref(), profile, samples);
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

/// How `model` calls a patient: the card's patient decision (an earlier card: the mean against
/// `window_threshold`, the window threshold in force), with `PATIENT_THRESHOLD` if set.
pub(crate) fn patient_call_of(
    state: &AppState,
    model: &LoadedModel,
    window_threshold: f64,
) -> (seizure_model::PatientCall, ThresholdSource) {
    let call = model.card().patient_call(window_threshold);
    match state.settings.patient_threshold {
        Some(threshold) => (
            seizure_model::PatientCall {
                threshold: threshold.into_inner(),
                ..call
            },
            ThresholdSource::Override,
        ),
        None => (call, ThresholdSource::ModelCard),
    }
}

/// The threshold in force for `model`: the override, or the one in its card.
pub(crate) fn threshold_of(state: &AppState, model: &LoadedModel) -> (f64, ThresholdSource) {
    match state.settings.threshold {
        Some(value) => (value.into_inner(), ThresholdSource::Override),
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

#[tracing::instrument(skip_all)]
pub(crate) async fn audit(
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
        prediction: answer.patient_score >= answer.patient_threshold,
        epileptic_recordings: answer.epileptic_recordings.clone(),
        kind: crate::audit::KIND_PREDICTION.to_owned(),
        session_id: None,
        acknowledges: None,
        decision: Some(crate::audit::RecordedDecision {
            rule: answer.patient_rule.clone(),
            score: answer.patient_score,
            threshold: answer.patient_threshold,
            source: answer.patient_threshold_source.clone(),
        }),
    };
    state.log.record(record).await.map_err(ApiError::internal)
}

pub(crate) fn count_outcome(state: &AppState, answer: &PredictionResponse) {
    let seizure = answer.patient_score >= answer.patient_threshold;
    state
        .metrics
        .outcome(if seizure { "seizure" } else { "no_seizure" });
}

/// Scores checked raw recordings (row-major samples) for `claims`' user: admitted (429/503
/// over the limits), scored off the async workers, counted and audited. The one path behind
/// `POST /predict` and the Open Inference Protocol's `infer`.
#[tracing::instrument(skip_all)]
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
