//! The log's read side: pages of records newest first, open and acknowledged alarms, one
//! record by id, an alarm's acknowledgement. Each read flushes the writer first, so a reader
//! sees what was answered before it asked.

use serde::Serialize;
use sqlx::Row;

use super::{format_micros, AuditError, PredictionLog, PredictionRecord};

/// One page of the log, newest first; `next` continues after its last record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub records: Vec<PredictionRecord>,
    pub next: Option<String>,
}

impl PredictionLog {
    /// Up to `limit` records, newest first, after `cursor` (a previous page's `next`).
    pub async fn page(&self, limit: usize, cursor: Option<&str>) -> Result<Page, AuditError> {
        self.flush().await?;
        let pool = self.db.get().await?;
        let rows = match cursor {
            None => {
                sqlx::query(&format!("{SELECT} ORDER BY at_us DESC, id DESC LIMIT $1"))
                    .bind(limit as i64)
                    .fetch_all(pool)
                    .await?
            }
            Some(cursor) => {
                let (at_us, id) = parse_cursor(cursor)?;
                sqlx::query(&format!(
                    "{SELECT} WHERE at_us < $1 OR (at_us = $1 AND id < $2) \
                     ORDER BY at_us DESC, id DESC LIMIT $3"
                ))
                .bind(at_us)
                .bind(id)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
        };
        let records = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = (records.len() == limit)
            .then(|| records.last().map(|r| format!("{}.{}", r.at_us, r.id)))
            .flatten();
        Ok(Page { records, next })
    }

    /// Up to `limit` seizure alarms no one has acknowledged, newest first: `username`'s, or
    /// everyone's for `None`.
    pub async fn open_alarms(
        &self,
        username: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PredictionRecord>, AuditError> {
        self.flush().await?;
        let pool = self.db.get().await?;
        let rows = match username {
            Some(user) => {
                sqlx::query(&format!(
                    "{SELECT} WHERE username = $1 AND {OPEN_ALARMS} \
                     ORDER BY at_us DESC, id DESC LIMIT $2"
                ))
                .bind(user)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{SELECT} WHERE {OPEN_ALARMS} ORDER BY at_us DESC, id DESC LIMIT $1"
                ))
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The last `limit` acknowledgements of `username`'s alarms (everyone's for `None`),
    /// newest first: each alarm with who acknowledged it and when (microseconds).
    pub async fn acknowledged_alarms(
        &self,
        username: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(PredictionRecord, String, i64)>, AuditError> {
        self.flush().await?;
        let pool = self.db.get().await?;
        let select = "SELECT alarm.id, alarm.at_us, alarm.username, alarm.role, \
             alarm.request_id, alarm.patient_id, alarm.model_version, alarm.recordings, \
             alarm.seizure_probability, alarm.prediction, alarm.epileptic_recordings, \
             alarm.kind, alarm.session_id, alarm.acknowledges, alarm.decision, \
             ack.username AS ack_username, \
             ack.at_us AS ack_at_us \
             FROM prediction_log AS ack JOIN prediction_log AS alarm ON ack.acknowledges = alarm.id \
             WHERE ack.kind = 'alarm_acknowledged'";
        let rows = match username {
            Some(user) => {
                sqlx::query(&format!(
                    "{select} AND alarm.username = $1 ORDER BY ack.at_us DESC, ack.id DESC LIMIT $2"
                ))
                .bind(user)
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{select} ORDER BY ack.at_us DESC, ack.id DESC LIMIT $1"
                ))
                .bind(limit as i64)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|row| {
                Ok((
                    record_from_row(row)?,
                    row.try_get::<String, _>("ack_username")?,
                    row.try_get::<i64, _>("ack_at_us")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    /// The record with this id, if the database has it.
    pub async fn record_by_id(&self, id: &str) -> Result<Option<PredictionRecord>, AuditError> {
        self.flush().await?;
        let pool = self.db.get().await?;
        let row = sqlx::query(&format!("{SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    /// The record acknowledging the alarm `alarm_id`, if any.
    pub async fn acknowledgement_of(
        &self,
        alarm_id: &str,
    ) -> Result<Option<PredictionRecord>, AuditError> {
        self.flush().await?;
        let pool = self.db.get().await?;
        let row = sqlx::query(&format!(
            "{SELECT} WHERE acknowledges = $1 ORDER BY at_us, id LIMIT 1"
        ))
        .bind(alarm_id)
        .fetch_optional(pool)
        .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }
}

const SELECT: &str = "SELECT id, at_us, username, role, request_id, patient_id, model_version, \
     recordings, seizure_probability, prediction, epileptic_recordings, kind, session_id, \
     acknowledges, decision FROM prediction_log";

/// Seizure alarms (live or replayed) that no record acknowledges.
const OPEN_ALARMS: &str = "kind IN ('monitor_alarm', 'monitor_replay_alarm') AND NOT EXISTS \
     (SELECT 1 FROM prediction_log AS ack WHERE ack.acknowledges = prediction_log.id)";

fn parse_cursor(cursor: &str) -> Result<(i64, String), AuditError> {
    let bad = || AuditError::BadCursor(cursor.to_owned());
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    let at_us = at.parse().map_err(|_| bad())?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((at_us, id.to_owned()))
}

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<PredictionRecord, sqlx::Error> {
    let at_us: i64 = row.try_get("at_us")?;
    let indices: String = row.try_get("epileptic_recordings")?;
    Ok(PredictionRecord {
        id: row.try_get("id")?,
        at: format_micros(at_us),
        at_us,
        username: row.try_get("username")?,
        role: row.try_get("role")?,
        request_id: row.try_get("request_id")?,
        patient_id: row
            .try_get::<Option<i64>, _>("patient_id")?
            .map(|id| id as u64),
        model_version: row.try_get("model_version")?,
        recordings: row.try_get::<i64, _>("recordings")? as usize,
        seizure_probability: row.try_get("seizure_probability")?,
        prediction: row.try_get::<i64, _>("prediction")? != 0,
        epileptic_recordings: serde_json::from_str(&indices).unwrap_or_default(),
        kind: row.try_get("kind")?,
        session_id: row.try_get("session_id")?,
        acknowledges: row.try_get("acknowledges")?,
        decision: row
            .try_get::<Option<String>, _>("decision")?
            .and_then(|json| serde_json::from_str(&json).ok()),
    })
}
