//! One push into a session: admitted, the windows scored off the async workers, the alarms
//! audited within the hour's quotas, and the answer; and the end of a session.

use std::sync::Arc;

use bedside::Event;
use http_kit::{ApiError, RequestId};

use super::{check_push_size, no_session, PushAnswer};
use crate::audit::{now_micros, PredictionRecord, KIND_MONITOR_ALARM, KIND_MONITOR_REPLAY_ALARM};
use crate::service::work::{admit, blocking_as};
use crate::sessions::{Entry, Session};
use crate::state::SharedState;
use tracing::Instrument;

/// What a push did, and what of it to write to the audit log.
struct Pushed {
    answer: PushAnswer,
    replay: bool,
    patient_id: Option<u64>,
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
    let seen = session.input_seen;
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
    // A live stream's windows made of known recordings (the store's, the data set's), at
    // any alignment, are replays: not the fleet's new input (a replay session adds none).
    let known = (!session.replay)
        .then(|| {
            state.drift.recogniser(
                state.patients.load_full().as_ref(),
                session.monitor.predictor(),
            )
        })
        .flatten();
    let refuse = |e: bedside::MonitorError| match e {
        bedside::MonitorError::NonFiniteOutput { .. } => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "non_finite_output",
            format!("{e}; nothing was appended"),
        ),
        other => ApiError::unprocessable(other.to_string()),
    };
    // The client's samples are checked as they came (their index is the client's), then
    // conditioned to the model's rate when the session was opened at another.
    if let Err(e) = session.monitor.check(samples) {
        session.pace.refund(samples.len());
        return Err(refuse(e));
    }
    let session = &mut *session;
    let conditioned = session.conditioner.as_mut().map(|conditioner| {
        let bound = session.monitor.input_bound();
        let mut out = Vec::with_capacity(samples.len() * 2 + 64);
        conditioner.push(samples, &mut out);
        // The filters may overshoot a sample near the bound by a little: held to it.
        out.iter_mut().for_each(|v| *v = v.clamp(-bound, bound));
        out
    });
    let model_samples = conditioned.as_deref().unwrap_or(samples);
    let update = match &known {
        Some(known) => session.monitor.push_recognising(model_samples, known),
        None => session.monitor.push(model_samples),
    };
    let update = match update {
        Ok(update) => update,
        Err(error) => {
            session.pace.refund(samples.len());
            if conditioned.is_some() {
                // The conditioner has taken these samples and cannot give them back: the
                // session ends rather than continue with a gap in its signal.
                session.closed = true;
                entry.update_status(session);
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "non_finite_output",
                    format!("{error}; the session is ended (open a new one)"),
                ));
            }
            return Err(refuse(error));
        }
    };
    session.input_seen += samples.len() as u64;
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
            .zip(&update.replayed)
            .enumerate()
            .filter(|(i, (_, &replayed))| (first + *i as u64).is_multiple_of(stride) && !replayed)
            .map(|(_, ((w, f), _))| (*f, f64::from(w.probability) >= card_threshold))
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
    let audited: Vec<bool> = (0..onsets)
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
    entry.update_status(session);
    Ok(Pushed {
        answer: PushAnswer {
            session_id: entry.id.clone(),
            model_version: session.model_version.clone(),
            samples_seen: session.input_seen,
            in_seizure: session.monitor.in_seizure(),
            windows: update.windows,
            events: update.events,
            alarms_unrecorded: audited.iter().filter(|&&written| !written).count(),
        },
        replay: session.replay,
        patient_id: session.patient_id,
        audited,
    })
}

/// One push, from admission to audit, in a task of its own: a client that goes away or a
/// request that times out cannot stop it between appending the samples and auditing the
/// alarms they raised (a retry with the same `offset` then gets 409, never a second copy).
#[tracing::instrument(skip_all)]
pub(crate) async fn push_and_record(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    request_id: Option<RequestId>,
    entry: Arc<Entry>,
    samples: Vec<f64>,
    offset: Option<u64>,
) -> Result<PushAnswer, ApiError> {
    check_push_size(state, samples.len())?;
    let ticket = admit(state, &claims.sub)?;
    let (state, claims) = (state.clone(), claims.clone());
    tokio::spawn(
        async move {
            // The session is locked here, waiting without a thread: a push to a session another
            // push is scoring never holds a blocking thread while it waits.
            let session = entry.session.clone().lock_owned().await;
            // Windows this push may complete, at most (one per hop of the model-rate samples
            // it becomes).
            let per_input_sample = session
                .conditioner
                .as_ref()
                .map_or(1.0, |c| eeg_data::SAMPLING_HZ / c.input_hz());
            let model_samples = (samples.len() as f64 * per_input_sample).ceil() as usize + 1;
            let windows = model_samples / session.monitor.config().hop.max(1) + 1;
            let pushed = blocking_as(&ticket, windows, {
                let state = state.clone();
                let entry = entry.clone();
                move || push_into(&state, &entry, session, &samples, offset)
            })
            .await?;
            drop(ticket);
            record_push(&state, &claims, request_id.as_ref(), &pushed).await?;
            Ok(pushed.answer)
        }
        .in_current_span(),
    )
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
                patient_id: pushed.patient_id,
                model_version: answer.model_version.clone(),
                recordings: 1,
                seizure_probability: f64::from(*probability),
                prediction: true,
                epileptic_recordings: vec![0],
                kind: kind.to_owned(),
                session_id: Some(answer.session_id.clone()),
                acknowledges: None,
                decision: None,
            };
            state.log.record(record).await.map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// Ends a session: an open seizure is closed. Waits (without holding a worker) for a push
/// in progress to finish first.
pub(crate) async fn finish(entry: &Entry) -> PushAnswer {
    let mut session = entry.session.lock().await;
    let events: Vec<Event> = if session.closed {
        Vec::new()
    } else {
        // A conditioned stream's last fraction of a second (the resampler's delay, under
        // about 0.4 s at 256 Hz, 1 s at 100 Hz) is not scored: an alarm it raised could not be audited before this answer.
        session.monitor.finish().into_iter().collect()
    };
    session.closed = true;
    entry.update_status(&session);
    PushAnswer {
        session_id: entry.id.clone(),
        model_version: session.model_version.clone(),
        samples_seen: session.input_seen,
        in_seizure: false,
        windows: Vec::new(),
        events,
        alarms_unrecorded: 0,
    }
}
