//! Bedside monitoring: a client opens a session, pushes samples at any chunking, and gets
//! back each new window's seizure probability and the alarm events (`seizure_onset`,
//! `seizure_offset`) of the `bedside` alarm rule. Two transports over one session registry:
//! plain HTTP ([`http`]) and a WebSocket ([`socket`]). Same token and roles as `/predict`;
//! every onset is written to the audit log before it is answered; sessions are bounded in
//! number (in all and per user), idle time and push size, and pinned to the model they
//! started on (a reload serves new sessions).

pub(crate) mod http;
mod sessions;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bedside::{AlarmRule, Event, Monitor, MonitorConfig, WindowScore};
use http_kit::{ApiError, RequestId};
use serde::{Deserialize, Serialize};

use crate::api::{input_bound, serving_model, threshold_of, SharedState};
use crate::audit::{
    now_micros, PredictionRecord, KIND_MONITOR_ALARM, KIND_MONITOR_ALARMS_SUMMARY,
    KIND_MONITOR_REPLAY_ALARM, KIND_MONITOR_REPLAY_ALARMS_SUMMARY,
};

use http::{close_session, open_session, push_samples, session_status};
pub use sessions::{AlarmSummary, Entry, MonitorArgs, Refusal, Session, Sessions, Status};
pub use socket::SOCKET_BUFFER_BYTES;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/monitor", get(socket::monitor_socket))
        .route("/monitor/sessions", post(open_session))
        .route(
            "/monitor/sessions/{id}",
            get(session_status).delete(close_session),
        )
        .route("/monitor/sessions/{id}/samples", post(push_samples))
}

/// Closes idle sessions, and sessions whose opener's login session was revoked, every
/// second (at most a quarter of the idle timeout), until the process ends.
pub fn spawn_sweeper(state: SharedState) -> tokio::task::JoinHandle<()> {
    let every = (state.sessions.idle_timeout() / 4)
        .clamp(Duration::from_millis(250), Duration::from_secs(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let idle = state.sessions.sweep();
            let revoked = state
                .sessions
                .sweep_revoked(|sid| state.verifier.is_session_revoked(sid));
            for (entry, end) in idle
                .into_iter()
                .map(|e| (e, "idle"))
                .chain(revoked.into_iter().map(|e| (e, "token")))
            {
                let status = entry.status();
                tracing::info!(
                    session_id = %entry.id,
                    owner = %entry.owner,
                    samples = status.samples_seen,
                    in_seizure = status.in_seizure,
                    end,
                    "monitoring session closed (idle timeout, or its login session revoked)"
                );
                state
                    .metrics
                    .monitor_sessions_closed
                    .with_label_values(&[end])
                    .inc();
            }
            state
                .metrics
                .monitor_sessions
                .set(state.sessions.len() as i64);
            // Users whose hour ended with alarms past the quotas: one record each, written
            // in a task of its own (a slow audit database does not hold the sweep).
            let due = state
                .sessions
                .take_alarm_summaries(std::time::Instant::now(), false);
            if !due.is_empty() {
                let state = state.clone();
                tokio::spawn(async move { record_summaries(&state, due).await });
            }
        }
    })
}

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
    pub sampling_hz: f64,
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

/// Samples to append, in order, in the model's units (µV at 173.61 Hz).
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
}

fn info(entry: &Entry, sessions: &Sessions) -> SessionInfo {
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
        samples_seen: status.samples_seen,
        in_seizure: status.in_seizure,
        alarms: status.alarms,
        max_samples_per_push: sessions.limits.max_monitor_push_samples,
        idle_timeout_seconds: sessions.limits.monitor_idle_seconds,
        replay: status.replay,
        max_samples_per_second: status.max_samples_per_second,
    }
}

/// Bytes of JSON text a push of `max_samples` may take (about 24 per sample:
/// `-1.2345678901234567e+03,`), within the HTTP body limit.
pub fn push_text_limit(max_samples: usize, max_body_bytes: usize) -> usize {
    (max_samples * 24 + 1024).min(max_body_bytes)
}

/// Refuses (413) a push text that holds more samples than one push may carry, before it is
/// parsed: such a text has at least as many commas, so what is parsed stays within the
/// limit (plus the few commas of the other fields) whatever the numbers' spelling.
fn check_push_text(state: &SharedState, text: &[u8]) -> Result<(), ApiError> {
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
fn refused(refusal: Refusal, what: &str, code: &'static str) -> ApiError {
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

fn no_session(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no monitoring session {id:?} (closed, expired after its idle timeout, or not yours)"
    ))
}

/// Opens a session for `owner` on the serving model, within the bounds.
fn open_entry(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    body: OpenBody,
) -> Result<Arc<Entry>, ApiError> {
    let owner = claims.sub.as_str();
    let model = serving_model(state)?;
    let (threshold, source) = threshold_of(state, &model);
    let defaults = AlarmRule::with_threshold(threshold);
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
        model_version: model.version.clone(),
        threshold_source: source.as_str().to_owned(),
        alarms: 0,
        windows_scored: 0,
        replay,
        pace: crate::quota::Pace::new(
            eeg_data::SAMPLING_HZ * speed,
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

/// What a push did, and what of it to write to the audit log.
struct Pushed {
    answer: PushAnswer,
    replay: bool,
    /// Per seizure onset of the answer, in order: written one row for itself (the others
    /// are counted for the user's hourly summary).
    audited: Vec<bool>,
}

/// Appends samples to a session (blocking: the model runs here). Refused samples leave the
/// session as it was.
fn push_into(
    state: &SharedState,
    entry: &Entry,
    mut session: tokio::sync::OwnedMutexGuard<Session>,
    samples: &[f64],
    offset: Option<u64>,
) -> Result<Pushed, ApiError> {
    use axum::http::StatusCode;
    if session.closed || entry.is_ended() {
        // Closed while this push waited for it: nothing is appended to an ended session.
        return Err(no_session(&entry.id));
    }
    let seen = session.monitor.samples_seen();
    if let Some(offset) = offset.filter(|&o| o != seen) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!(
                "this push starts at sample {offset}, but the session has {seen} samples; \
                 nothing was appended"
            ),
        ));
    }
    let now = std::time::Instant::now();
    if let Err(wait) = session.pace.take(samples.len(), now) {
        let kind = if session.replay { "replay" } else { "live" };
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ahead_of_the_clock",
            format!(
                "this {kind} session takes at most {:.2} samples a second, one push ahead of \
                 the clock: these {} samples come {:.1} s early; nothing was appended",
                session.pace.rate(),
                samples.len(),
                wait.as_secs_f64()
            ),
        )
        .retry_after(wait.as_secs().max(1)));
    }
    let update = session.monitor.push(samples).map_err(|e| match e {
        bedside::MonitorError::NonFiniteOutput { .. } => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "non_finite_output",
            format!("{e}; nothing was appended"),
        ),
        other => ApiError::unprocessable(other.to_string()),
    });
    let update = match update {
        Ok(update) => update,
        Err(error) => {
            session.pace.refund(samples.len());
            return Err(error);
        }
    };
    // A replay's windows are recorded EEG (perhaps the store's own): not the fleet's input.
    let profile = (!session.replay)
        .then(|| session.monitor.predictor().profile().cloned())
        .flatten();
    if let Some(profile) = profile {
        // Non-overlapping windows only (every `stride`-th of the session's), so that a small
        // hop cannot fill the fleet's window with near-copies; called at the card's threshold.
        let stride = eeg_data::SAMPLES_PER_RECORDING
            .div_ceil(session.monitor.config().hop)
            .max(1) as u64;
        let card_threshold = session.monitor.predictor().card().threshold().0;
        let first = session.windows_scored;
        session.windows_scored += update.windows.len() as u64;
        let (features, called): (Vec<drift::Features>, Vec<bool>) = update
            .windows
            .iter()
            .zip(&update.features)
            .enumerate()
            .filter(|(i, _)| (first + *i as u64).is_multiple_of(stride))
            .map(|(_, (w, f))| (*f, f64::from(w.probability) >= card_threshold))
            .unzip();
        let serving = state.model.current();
        state.drift.observe(
            serving.as_ref().map(|m| m.version.as_str()),
            &session.model_version,
            &profile,
            &entry.owner,
            &features,
            &called,
        );
    }
    let onsets = update
        .events
        .iter()
        .filter(|e| matches!(e, Event::SeizureOnset { .. }))
        .count();
    session.alarms += onsets as u64;
    session.alarm_quota.roll(now);
    let audited = (0..onsets)
        .map(|_| {
            let written = session.alarm_quota.admit()
                && state
                    .sessions
                    .admit_user_alarm(&entry.owner, &entry.role, now);
            if !written {
                state
                    .sessions
                    .suppress_user_alarm(&entry.owner, session.replay);
            }
            written
        })
        .collect();
    entry.update_status(&session);
    Ok(Pushed {
        answer: PushAnswer {
            session_id: entry.id.clone(),
            model_version: session.model_version.clone(),
            samples_seen: session.monitor.samples_seen(),
            in_seizure: session.monitor.in_seizure(),
            windows: update.windows,
            events: update.events,
        },
        replay: session.replay,
        audited,
    })
}

/// One push, from admission to audit, in a task of its own: a client that goes away or a
/// request that times out cannot stop it between appending the samples and auditing the
/// alarms they raised (a retry with the same `offset` then gets 409, never a second copy).
async fn push_and_record(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    request_id: Option<RequestId>,
    entry: Arc<Entry>,
    samples: Vec<f64>,
    offset: Option<u64>,
) -> Result<PushAnswer, ApiError> {
    http::check_push_size(state, samples.len())?;
    let ticket = crate::api::admit(state, &claims.sub)?;
    let (state, claims) = (state.clone(), claims.clone());
    tokio::spawn(async move {
        // The session is locked here, waiting without a thread: a push to a session another
        // push is scoring never holds a blocking thread while it waits.
        let session = entry.session.clone().lock_owned().await;
        // Windows this push may complete, at most (one per hop).
        let windows = samples.len() / session.monitor.config().hop.max(1) + 1;
        let pushed = crate::api::blocking_as(&ticket, windows, {
            let state = state.clone();
            let entry = entry.clone();
            move || push_into(&state, &entry, session, &samples, offset)
        })
        .await?;
        drop(ticket);
        record_push(&state, &claims, request_id.as_ref(), &pushed).await?;
        Ok(pushed.answer)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Counts what a push produced and writes one audit record per seizure onset within the
/// hour's quotas, before the push is answered.
async fn record_push(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    request_id: Option<&RequestId>,
    pushed: &Pushed,
) -> Result<(), ApiError> {
    let answer = &pushed.answer;
    let mut audited = pushed.audited.iter();
    state
        .metrics
        .monitor_windows
        .inc_by(answer.windows.len() as u64);
    let flagged = answer
        .windows
        .iter()
        .filter(|w| w.ood.as_ref().is_some_and(|o| o.flagged))
        .count();
    state
        .metrics
        .drift
        .ood_windows
        .with_label_values(&["monitor"])
        .inc_by(flagged as u64);
    for event in &answer.events {
        if let Event::SeizureOnset { probability, .. } = event {
            state.metrics.monitor_alarms.inc();
            if audited.next() != Some(&true) {
                continue;
            }
            let kind = if pushed.replay {
                KIND_MONITOR_REPLAY_ALARM
            } else {
                KIND_MONITOR_ALARM
            };
            let record = PredictionRecord {
                id: auth_tokens::random_id(),
                at: String::new(),
                at_us: now_micros(),
                username: claims.sub.clone(),
                role: claims.role.as_str().to_owned(),
                request_id: request_id.map(|r| r.0.clone()),
                patient_id: None,
                model_version: answer.model_version.clone(),
                recordings: 1,
                seizure_probability: f64::from(*probability),
                prediction: true,
                epileptic_recordings: vec![0],
                kind: kind.to_owned(),
                session_id: Some(answer.session_id.clone()),
            };
            state.log.record(record).await.map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// One audit record per user for the alarms past the hour's quotas (their count in
/// `recordings`): the audit log grows by at most the quotas' rows and one summary a user an
/// hour, whatever the flood.
pub async fn record_summaries(state: &SharedState, due: Vec<AlarmSummary>) {
    let model_version = state
        .model
        .current()
        .map(|m| m.version.clone())
        .unwrap_or_default();
    for summary in due {
        tracing::warn!(owner = %summary.owner, count = summary.count, "alarms past the hour's quota, summarised in one record");
        let record = PredictionRecord {
            id: auth_tokens::random_id(),
            at: String::new(),
            at_us: now_micros(),
            username: summary.owner.clone(),
            role: summary.role.clone(),
            request_id: None,
            patient_id: None,
            model_version: model_version.clone(),
            recordings: usize::try_from(summary.count).unwrap_or(usize::MAX),
            seizure_probability: 1.0,
            prediction: true,
            epileptic_recordings: Vec::new(),
            kind: if summary.replay {
                KIND_MONITOR_REPLAY_ALARMS_SUMMARY
            } else {
                KIND_MONITOR_ALARMS_SUMMARY
            }
            .to_owned(),
            session_id: None,
        };
        if let Err(e) = state.log.record(record).await {
            tracing::error!(owner = %summary.owner, "cannot record the alarm summary: {e}");
        }
    }
}

/// Ends a session: an open seizure is closed. Waits (without holding a worker) for a push
/// in progress to finish first.
async fn finish(entry: &Entry) -> PushAnswer {
    let mut session = entry.session.lock().await;
    let events: Vec<Event> = if session.closed {
        Vec::new()
    } else {
        session.monitor.finish().into_iter().collect()
    };
    session.closed = true;
    entry.update_status(&session);
    PushAnswer {
        session_id: entry.id.clone(),
        model_version: session.model_version.clone(),
        samples_seen: session.monitor.samples_seen(),
        in_seizure: false,
        windows: Vec::new(),
        events,
    }
}
