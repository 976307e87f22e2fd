//! The sessions' housekeeping: idle and revoked sessions closed every second, and the alarms
//! past the quotas written as one summary a user an hour.

use std::time::Duration;

use crate::audit::{
    now_micros, PredictionRecord, KIND_MONITOR_ALARMS_SUMMARY, KIND_MONITOR_REPLAY_ALARMS_SUMMARY,
};
use crate::sessions::AlarmSummary;
use crate::state::SharedState;

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
            acknowledges: None,
            decision: None,
        };
        if let Err(e) = state.log.record(record).await {
            tracing::error!(owner = %summary.owner, "cannot record the alarm summary: {e}");
        }
    }
}
