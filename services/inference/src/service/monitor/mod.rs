//! Bedside monitoring sessions, as a service: a client opens a session, pushes samples at any chunking, and gets
//! back each new window's seizure probability and the alarm events (`seizure_onset`,
//! `seizure_offset`) of the `bedside` alarm rule. Two transports over one session registry:
//! plain HTTP ([`http`]) and a WebSocket ([`socket`]). Same token and roles as `/predict`;
//! every onset is written to the audit log before it is answered; sessions are bounded in
//! number (in all and per user), idle time and push size, and pinned to the model they
//! started on (a reload serves new sessions).

mod push;
mod sweep;

use std::sync::Arc;

use axum::http::StatusCode;
use bedside::{AlarmRule, Event, Monitor, MonitorConfig, WindowScore};
use http_kit::ApiError;
use seizure_model::Threshold;
use serde::{Deserialize, Serialize};

use crate::service::scoring::{input_bound, serving_model, threshold_of};
use crate::sessions::{self, push_text_limit, Entry, Refusal, Session, Sessions};
use crate::state::SharedState;

pub(crate) use push::{finish, push_and_record};
pub use sweep::{record_summaries, spawn_sweeper};

/// Optional settings of a new session; anything absent takes the documented default.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// Samples between window starts (default 87, 0.5 s).
    pub hop: Option<usize>,
    /// Alarm when at least `alarm_k` of the last `alarm_n` windows are at or above the
    /// threshold (default 6 of 6).
    pub alarm_k: Option<usize>,
    pub alarm_n: Option<usize>,
    /// No new alarm within this many seconds of a seizure's declared end (default 30).
    pub refractory_s: Option<f64>,
    /// A replay of recorded EEG (the page's replays, tests): paced at up to
    /// `MONITOR_REPLAY_SPEED` (16) times real time instead of 1.25 times, its alarms audited
    /// as `monitor_replay_alarm`, its windows kept out of the fleet's drift window. Default:
    /// a live stream, paced to real time.
    pub replay: Option<bool>,
    /// The client's sampling rate, 100 to 4,096 Hz (default: the model's 173.61). At another
    /// rate the server filters the samples to the training data's band (0.53-40 Hz) with a
    /// mains notch and resamples them to the model's rate; `samples_seen`, `offset` and the
    /// push limits count the client's samples, and times in answers are seconds from the
    /// client's first sample.
    pub input_sampling_hz: Option<f64>,
    /// The mains frequency notched out when the samples are conditioned: "50" (default),
    /// "60" or "none".
    #[schema(value_type = Option<String>)]
    pub mains: Option<bedside::conditioning::Mains>,
    /// The patient this stream is of, when the client knows it (the page's replays): named
    /// in the session's alarm records, so an alarm list can say whose it is.
    pub patient_id: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub session_id: String,
    pub model_version: String,
    pub threshold: f64,
    pub threshold_source: String,
    pub hop: usize,
    pub alarm_k: usize,
    pub alarm_n: usize,
    pub refractory_s: f64,
    /// Samples per window (the model's input length).
    pub window_samples: usize,
    /// The model's rate (windows are cut and scored at it).
    pub sampling_hz: f64,
    /// The client's rate, at which `samples_seen` and the push limits count.
    pub input_sampling_hz: f64,
    /// The mains notch applied to a client at another rate (none at the model's own).
    pub mains_notch_hz: Option<f64>,
    pub samples_seen: u64,
    pub in_seizure: bool,
    pub alarms: u64,
    pub max_samples_per_push: usize,
    pub idle_timeout_seconds: u64,
    /// A replay (see the session's settings) or a live stream.
    pub replay: bool,
    /// The most samples a second the session takes on average (1.25 x 173.61 live, so a
    /// device that fell behind catches up; `MONITOR_REPLAY_SPEED` x 173.61 for a replay),
    /// one push ahead of the clock at most.
    pub max_samples_per_second: f64,
}

/// Samples to append, in order, in µV at the session's `input_sampling_hz`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    pub samples: Vec<f64>,
    /// Where these samples start in the session's signal (its `samples_seen` before them).
    /// When given, a push that does not start there is refused (409) and appends nothing:
    /// a client that retries a push whose answer it lost sends it with the same offset.
    #[serde(default)]
    pub offset: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushAnswer {
    pub session_id: String,
    pub model_version: String,
    pub samples_seen: u64,
    pub in_seizure: bool,
    /// The windows this push completed: `{start_s, end_s, probability}`.
    #[schema(value_type = Vec<Object>)]
    pub windows: Vec<WindowScore>,
    /// `{type: seizure_onset, onset_s, detected_s, probability}` or
    /// `{type: seizure_offset, offset_s, detected_s}`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
    /// Seizure onsets of this push past the hour's alarm quotas: answered here and counted,
    /// but without an audit record of their own (a summary record follows), so `GET /alarms`
    /// does not list them.
    pub alarms_unrecorded: usize,
}

pub(crate) fn info(entry: &Entry, sessions: &Sessions) -> SessionInfo {
    let status = entry.status();
    let config = &status.config;
    SessionInfo {
        session_id: entry.id.clone(),
        model_version: status.model_version.clone(),
        threshold: config.rule.threshold,
        threshold_source: status.threshold_source.clone(),
        hop: config.hop,
        alarm_k: config.rule.k,
        alarm_n: config.rule.n,
        refractory_s: config.rule.refractory_s,
        window_samples: eeg_data::SAMPLES_PER_RECORDING,
        sampling_hz: eeg_data::SAMPLING_HZ,
        input_sampling_hz: status.input_sampling_hz,
        mains_notch_hz: status.mains_notch_hz,
        samples_seen: status.samples_seen,
        in_seizure: status.in_seizure,
        alarms: status.alarms,
        max_samples_per_push: sessions.limits.max_monitor_push_samples,
        idle_timeout_seconds: sessions.limits.idle.as_secs(),
        replay: status.replay,
        max_samples_per_second: status.max_samples_per_second,
    }
}

/// Refuses (413) a push text that holds more samples than one push may carry, before it is
/// parsed: such a text has at least as many commas, so what is parsed stays within the
/// limit (plus the few commas of the other fields) whatever the numbers' spelling.
pub(crate) fn check_push_text(state: &SharedState, text: &[u8]) -> Result<(), ApiError> {
    let commas = text.iter().filter(|&&b| b == b',').count();
    let limit = state.sessions.limits.max_monitor_push_samples;
    if commas > limit + 8 {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_samples",
            format!(
                "more than {limit} samples in one push; at most {limit} (send the rest in \
                 further pushes)"
            ),
        ));
    }
    Ok(())
}

/// The answer (error `code`) to a refused session or socket (`what`): 503 when everyone's
/// cap is reached, 429 when the caller's is.
pub(crate) fn refused(refusal: Refusal, what: &str, code: &'static str) -> ApiError {
    use axum::http::StatusCode;
    match refusal {
        Refusal::Full { limit } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!("{limit} monitoring {what} are open; try again later"),
        )
        .retry_after(5),
        Refusal::UserFull { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!("you have {limit} monitoring {what} open; close one first"),
        ),
        Refusal::ResamplingFull { limit } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            format!(
                "{limit} monitoring sessions at another rate than the model's are open (each \
                 holds a resampler); try again later, or send samples at 173.61 Hz"
            ),
        )
        .retry_after(5),
        Refusal::UserResamplingFull { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!(
                "you have {limit} monitoring {what} at another rate than the model's open; \
                 close one first"
            ),
        ),
        Refusal::TooOften { retry_after } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!(
                "you have opened as many monitoring {what} this minute as allowed; try again \
                 in {retry_after} s"
            ),
        )
        .retry_after(retry_after),
    }
}

pub(crate) fn no_session(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no monitoring session {id:?} (closed, expired after its idle timeout, or not yours)"
    ))
}

/// Opens a session for `owner` on the serving model, within the bounds.
pub(crate) fn open_entry(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    body: OpenBody,
) -> Result<Arc<Entry>, ApiError> {
    let owner = claims.sub.as_str();
    let model = serving_model(state)?;
    // The card's alarm decision; PREDICTION_THRESHOLD, when set, overrides its threshold too.
    let (_, source) = threshold_of(state, &model);
    let defaults = AlarmRule::of_card(model.card());
    let threshold = state
        .settings
        .threshold
        .map_or(defaults.threshold, Threshold::into_inner);
    let config = MonitorConfig {
        hop: body.hop.unwrap_or(bedside::monitor::DEFAULT_HOP),
        rule: AlarmRule {
            threshold,
            k: body.alarm_k.unwrap_or(defaults.k),
            n: body.alarm_n.unwrap_or(defaults.n),
            refractory_s: body.refractory_s.unwrap_or(defaults.refractory_s),
        },
    };
    let monitor = Monitor::new(Arc::clone(&model.predictor), config)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?
        .with_input_bound(input_bound(state, &model));
    // At the model's own rate the samples are taken as they come (as the data set's were
    // recorded, already band-limited); at any other, conditioned on the server.
    let conditioner = body
        .input_sampling_hz
        .filter(|&hz| hz != eeg_data::SAMPLING_HZ)
        .map(|hz| {
            bedside::conditioning::Conditioner::new(
                hz,
                body.mains.unwrap_or(bedside::conditioning::Mains::Hz50),
            )
        })
        .transpose()
        .map_err(|e| ApiError::unprocessable(format!("input_sampling_hz: {e}")))?;
    if body.mains.is_some() && conditioner.is_none() {
        return Err(ApiError::unprocessable(
            "mains: the notch applies to samples the server conditions, i.e. at an \
             input_sampling_hz other than the model's 173.61",
        ));
    }
    let input_hz = conditioner
        .as_ref()
        .map_or(eeg_data::SAMPLING_HZ, |c| c.input_hz());
    let limits = &state.sessions.limits;
    let replay = body.replay.unwrap_or(false);
    let speed = if replay {
        f64::from(limits.monitor_replay_speed)
    } else {
        sessions::LIVE_CATCH_UP
    };
    let now = std::time::Instant::now();
    let session = Session {
        monitor,
        patient_id: body.patient_id,
        conditioner,
        input_seen: 0,
        model_version: model.version.clone(),
        threshold_source: source.as_str().to_owned(),
        alarms: 0,
        windows_scored: 0,
        replay,
        pace: crate::quota::Pace::new(
            input_hz * speed,
            limits.max_monitor_push_samples as f64,
            now,
        ),
        alarm_quota: crate::quota::AlarmQuota::new(limits.max_session_alarms_per_hour, now),
        closed: false,
    };
    let entry = state
        .sessions
        .open(claims, session)
        .map_err(|refusal| refused(refusal, "sessions", "too_many_sessions"))?;
    state
        .metrics
        .monitor_sessions
        .set(state.sessions.len() as i64);
    tracing::info!(session_id = %entry.id, %owner, model_version = %model.version, "monitoring session opened");
    Ok(entry)
}

/// The largest WebSocket message, and the body limit of `POST /monitor/sessions/{id}/samples`.
pub(crate) fn max_message_bytes(state: &SharedState) -> usize {
    push_text_limit(
        state.sessions.limits.max_monitor_push_samples,
        state.settings.bodies.max_body_bytes,
    )
}

/// 413 for a push over the limit.
pub(crate) fn check_push_size(state: &SharedState, samples: usize) -> Result<(), ApiError> {
    let limit = state.sessions.limits.max_monitor_push_samples;
    if samples > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_samples",
            format!(
                "{samples} samples in one push; at most {limit} (send the rest in further pushes)"
            ),
        ));
    }
    Ok(())
}
