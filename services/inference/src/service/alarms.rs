//! Alarms as records: the seizure alarms of monitoring sessions stay open until a clinician
//! acknowledges them, and the acknowledgement is itself an audit record (who, when, which
//! alarm). Open alarms are read from the audit log, so they survive page reloads, patient
//! switches and service restarts.

use axum::http::StatusCode;
use http_kit::{ApiError, RequestId};
use serde::Serialize;

use crate::audit::{
    now_micros, AuditError, PredictionRecord, KIND_ALARM_ACKNOWLEDGED, KIND_MONITOR_ALARM,
    KIND_MONITOR_REPLAY_ALARM,
};
use crate::state::SharedState;

/// The most open alarms one answer lists.
pub const MAX_LISTED: usize = 200;

/// An alarm as a clinician sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlarmView {
    pub alarm_id: String,
    /// RFC 3339, UTC: when the alarm was raised.
    pub raised_at: String,
    /// Whose session raised it.
    pub raised_for: String,
    pub patient_id: Option<u64>,
    pub session_id: Option<String>,
    pub model_version: String,
    /// The window probability that completed the alarm rule.
    pub probability: f64,
    /// Raised in a replay of recorded EEG, not a live stream.
    pub replay: bool,
}

impl AlarmView {
    fn of(record: &PredictionRecord) -> Self {
        Self {
            alarm_id: record.id.clone(),
            raised_at: record.at.clone(),
            raised_for: record.username.clone(),
            patient_id: record.patient_id,
            session_id: record.session_id.clone(),
            model_version: record.model_version.clone(),
            probability: record.seizure_probability,
            replay: record.kind == KIND_MONITOR_REPLAY_ALARM,
        }
    }
}

/// An acknowledgement, as recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    pub alarm: AlarmView,
    pub acknowledged_by: String,
    /// RFC 3339, UTC.
    pub acknowledged_at: String,
    /// The acknowledgement's own audit record (in the answer to the acknowledgement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

fn unavailable(e: AuditError) -> ApiError {
    tracing::warn!(error = %e, "the audit log cannot be read for alarms");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the alarm records cannot be read right now (the audit database is not reachable); \
         try again",
    )
    .retry_after(5)
}

/// The acknowledgements shown with the open alarms.
pub const RECENT_ACKNOWLEDGEMENTS: usize = 20;

/// The caller's open alarms (an admin's: everyone's), newest first, and the last
/// acknowledgements of their alarms (who and when).
#[tracing::instrument(skip_all)]
pub(crate) async fn open_alarms(
    state: &SharedState,
    claims: &auth_tokens::Claims,
) -> Result<(Vec<AlarmView>, Vec<Acknowledged>), ApiError> {
    let user = (claims.role != auth_tokens::Role::Admin).then_some(claims.sub.as_str());
    let records = state
        .log
        .open_alarms(user, MAX_LISTED)
        .await
        .map_err(unavailable)?;
    let acknowledged = state
        .log
        .acknowledged_alarms(user, RECENT_ACKNOWLEDGEMENTS)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|(alarm, by, at_us)| Acknowledged {
            alarm: AlarmView::of(&alarm),
            acknowledged_by: by,
            acknowledged_at: crate::audit::format_micros(at_us),
            record_id: None,
        })
        .collect();
    Ok((records.iter().map(AlarmView::of).collect(), acknowledged))
}

/// Acknowledges an open alarm of the caller's (an admin: anyone's), once: a second
/// acknowledgement is 409 naming who acknowledged it and when. Acknowledgements are taken one
/// at a time, so 50 at once record exactly one.
#[tracing::instrument(skip_all)]
pub(crate) async fn acknowledge(
    state: &SharedState,
    claims: &auth_tokens::Claims,
    request_id: Option<&RequestId>,
    alarm_id: &str,
) -> Result<Acknowledged, ApiError> {
    if alarm_id.is_empty()
        || alarm_id.len() > 64
        || !alarm_id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(ApiError::bad_request(format!(
            "an alarm id is hexadecimal, as GET /alarms lists it, not {:?}",
            alarm_id.chars().take(80).collect::<String>()
        )));
    }
    let not_found = || {
        ApiError::not_found(format!(
            "no alarm {alarm_id} (not a seizure alarm, or not one of yours)"
        ))
    };
    let _one_at_a_time = state.acknowledging.lock().await;
    let alarm = state
        .log
        .record_by_id(alarm_id)
        .await
        .map_err(unavailable)?
        .filter(|r| r.kind == KIND_MONITOR_ALARM || r.kind == KIND_MONITOR_REPLAY_ALARM)
        .filter(|r| claims.role == auth_tokens::Role::Admin || r.username == claims.sub)
        .ok_or_else(not_found)?;
    if let Some(earlier) = state
        .log
        .acknowledgement_of(alarm_id)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_acknowledged",
            format!(
                "alarm {alarm_id} was acknowledged by {} at {}",
                earlier.username, earlier.at
            ),
        ));
    }
    let at_us = now_micros();
    let record = PredictionRecord {
        id: auth_tokens::random_id(),
        at: String::new(),
        at_us,
        username: claims.sub.clone(),
        role: claims.role.as_str().to_owned(),
        request_id: request_id.map(|r| r.0.clone()),
        patient_id: alarm.patient_id,
        model_version: alarm.model_version.clone(),
        recordings: 0,
        seizure_probability: alarm.seizure_probability,
        prediction: true,
        epileptic_recordings: Vec::new(),
        kind: KIND_ALARM_ACKNOWLEDGED.to_owned(),
        session_id: alarm.session_id.clone(),
        acknowledges: Some(alarm.id.clone()),
        decision: None,
    };
    let record_id = record.id.clone();
    state.log.record(record).await.map_err(ApiError::internal)?;
    // Written through before the answer: the next list no longer shows the alarm.
    state.log.flush().await.map_err(unavailable)?;
    tracing::info!(alarm_id, by = %claims.sub, "alarm acknowledged");
    Ok(Acknowledged {
        alarm: AlarmView::of(&alarm),
        acknowledged_by: claims.sub.clone(),
        acknowledged_at: crate::audit::format_micros(at_us),
        record_id: Some(record_id),
    })
}
