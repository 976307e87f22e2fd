//! The prediction audit log in SQL: who asked about which patient, when, which model
//! answered and what it said. Requests hand their record to a writer task, which inserts
//! in batches (one transaction each), so a prediction never waits for a disk sync; the
//! channel is bounded, so a stalled database slows requests down instead of losing records.

use serde::Serialize;
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

const QUEUE: usize = 4096;
const BATCH: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PredictionRecord {
    pub id: String,
    /// RFC 3339, UTC, microseconds.
    pub at: String,
    #[serde(skip)]
    pub at_us: i64,
    pub username: String,
    pub role: String,
    pub request_id: Option<String>,
    /// None for raw-signal predictions (`POST /predict`).
    pub patient_id: Option<u64>,
    pub model_version: String,
    pub recordings: usize,
    pub seizure_probability: f64,
    pub prediction: bool,
    pub epileptic_recordings: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Pool(#[from] sql_pool::PoolError),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("invalid cursor {0:?}")]
    BadCursor(String),
}

enum Command {
    Write(Box<PredictionRecord>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the log: cheap to clone.
#[derive(Clone)]
pub struct PredictionLog {
    pool: AnyPool,
    queue: mpsc::Sender<Command>,
}

/// One page of the log, newest first; `next` continues after its last record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub records: Vec<PredictionRecord>,
    pub next: Option<String>,
}

impl PredictionLog {
    /// Opens (and migrates) the database and starts the writer task.
    pub async fn open(database: &str) -> Result<Self, AuditError> {
        let pool = sql_pool::connect(database, &sqlx::migrate!("./migrations")).await?;
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool.clone(), receiver));
        Ok(Self { pool, queue })
    }

    pub async fn ping(&self) -> bool {
        sql_pool::ping(&self.pool).await
    }

    /// Queues a record (waits only when the queue is full).
    pub async fn record(&self, record: PredictionRecord) -> Result<(), AuditError> {
        self.queue
            .send(Command::Write(Box::new(record)))
            .await
            .map_err(|_| AuditError::Stopped)
    }

    /// Returns once every record queued before the call is in the database.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (done, wait) = oneshot::channel();
        self.queue
            .send(Command::Flush(done))
            .await
            .map_err(|_| AuditError::Stopped)?;
        wait.await.map_err(|_| AuditError::Stopped)
    }

    /// Up to `limit` records, newest first, after `cursor` (a previous page's `next`).
    pub async fn page(&self, limit: usize, cursor: Option<&str>) -> Result<Page, AuditError> {
        self.flush().await?;
        let rows = match cursor {
            None => {
                sqlx::query(&format!("{SELECT} ORDER BY at_us DESC, id DESC LIMIT $1"))
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
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
                .fetch_all(&self.pool)
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
}

const SELECT: &str = "SELECT id, at_us, username, role, request_id, patient_id, model_version, \
     recordings, seizure_probability, prediction, epileptic_recordings FROM prediction_log";

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
    })
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

pub fn format_micros(at_us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(at_us as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The writer task: takes what is queued (up to a batch) and inserts it in one transaction.
async fn write_batches(pool: AnyPool, mut receiver: mpsc::Receiver<Command>) {
    let mut commands = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut commands, BATCH).await > 0 {
        let mut records = Vec::new();
        let mut flushes = Vec::new();
        for command in commands.drain(..) {
            match command {
                Command::Write(record) => records.push(*record),
                Command::Flush(done) => flushes.push(done),
            }
        }
        // Retry until the database takes the batch: records are never dropped.
        let mut delay = std::time::Duration::from_millis(100);
        while let Err(e) = insert(&pool, &records).await {
            tracing::error!(
                records = records.len(),
                "cannot write the prediction audit log, retrying: {e}"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(5));
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn insert(pool: &AnyPool, records: &[PredictionRecord]) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut transaction = pool.begin().await?;
    for r in records {
        sqlx::query(
            "INSERT INTO prediction_log (id, at_us, username, role, request_id, patient_id, \
             model_version, recordings, seizure_probability, prediction, epileptic_recordings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&r.id)
        .bind(r.at_us)
        .bind(&r.username)
        .bind(&r.role)
        .bind(r.request_id.as_deref())
        .bind(r.patient_id.map(|id| id as i64))
        .bind(&r.model_version)
        .bind(r.recordings as i64)
        .bind(r.seizure_probability)
        .bind(i64::from(r.prediction))
        .bind(serde_json::to_string(&r.epileptic_recordings).expect("indices serialise"))
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
