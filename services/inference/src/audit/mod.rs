//! The prediction audit log in SQL: who asked about which patient, when, which model
//! answered and what it said. Requests hand their record to a writer task ([`writer`]),
//! which inserts in batches (one transaction each), so a prediction never waits for a disk
//! sync. The database refusing a record sets that record aside with the reason; a database
//! outage sends records to a local spill file ([`spill`]) that is written back once the
//! database answers, and at the next start. A shutdown flush is bounded: what it cannot
//! write in time is spilled. Nothing answered is ever lost.

mod reads;
mod spill;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, Registry};
use serde::{Deserialize, Serialize};
use sql_pool::{DatabaseSettings, MigratedPool};
use sqlx::migrate::Migrator;
use tokio::sync::{mpsc, oneshot, watch};

pub use reads::Page;
pub use spill::SpillFile;
pub use writer::is_transient;

const QUEUE: usize = 4096;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// `prediction`; `signal_read` (a patient's raw recordings read); `monitor_alarm` (a seizure onset in a live monitoring session) or
    /// `monitor_replay_alarm` (in a replay); `monitor_alarms_summary` /
    /// `monitor_replay_alarms_summary`: a user's live / replayed alarms past the hour's
    /// quotas, their count in `recordings`. Spill lines written before the field read as predictions.
    #[serde(default = "prediction_kind")]
    pub kind: String,
    /// The monitoring session of a `monitor_alarm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The alarm record an `alarm_acknowledged` record acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledges: Option<String>,
    /// The patient decision a prediction's call came from (predictions only; absent in
    /// records logged before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RecordedDecision>,
}

/// A prediction's patient decision as the log keeps it: `prediction` is `score >= threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedDecision {
    /// The patient rule (`mean_probability` or `positive_fraction`).
    pub rule: String,
    /// The recordings' score by the rule.
    pub score: f64,
    pub threshold: f64,
    /// `model_card` or `override` (`PATIENT_THRESHOLD`).
    pub source: String,
}

pub const KIND_PREDICTION: &str = "prediction";
pub const KIND_MONITOR_ALARM: &str = "monitor_alarm";
/// A read of a patient's raw recordings (`GET /patients/{id}/recordings`).
pub const KIND_SIGNAL_READ: &str = "signal_read";
pub const KIND_MONITOR_REPLAY_ALARM: &str = "monitor_replay_alarm";
pub const KIND_MONITOR_ALARMS_SUMMARY: &str = "monitor_alarms_summary";
pub const KIND_MONITOR_REPLAY_ALARMS_SUMMARY: &str = "monitor_replay_alarms_summary";
/// A clinician acknowledged an alarm (`acknowledges` names it).
pub const KIND_ALARM_ACKNOWLEDGED: &str = "alarm_acknowledged";

fn prediction_kind() -> String {
    KIND_PREDICTION.to_owned()
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

pub(crate) enum Command {
    Write(Box<PredictionRecord>),
    Flush(oneshot::Sender<()>),
}

/// How the log behaves when the database does not take records.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Where records go that the database cannot take in time (JSON lines, mode 0600).
    pub spill_file: PathBuf,
    /// A batch failing this long is spilled instead of holding up the queue.
    pub spill_after: Duration,
}

impl AuditOptions {
    pub fn new(spill_file: PathBuf) -> Self {
        Self {
            spill_file,
            spill_after: Duration::from_secs(2),
        }
    }
}

/// The writer's state, shared with the handles and exported as metrics.
pub(crate) struct Shared {
    backlog: IntGauge,
    spill_pending: IntGauge,
    spilled: IntCounter,
    dead_lettered: IntCounter,
    write_errors: IntCounter,
    lost: IntCounter,
    /// Why the database, and why the spill file, last failed (while they fail), under one
    /// lock so a health report never mixes two moments.
    errors: Mutex<Errors>,
}

#[derive(Default, Clone)]
struct Errors {
    database: Option<String>,
    spill: Option<String>,
}

impl Errors {
    /// A record would be kept somewhere: the database or, failing that, the spill file.
    fn durable(&self) -> bool {
        self.database.is_none() || self.spill.is_none()
    }
}

impl Shared {
    fn new(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            http_metrics::register(registry, IntGauge::new(name, help).expect("a valid metric"))
        };
        let counter = |name: &str, help: &str| {
            http_metrics::register(
                registry,
                IntCounter::new(name, help).expect("a valid metric"),
            )
        };
        Self {
            backlog: gauge(
                "audit_backlog_records",
                "Audit records queued for the database writer",
            ),
            spill_pending: gauge(
                "audit_spill_pending_records",
                "Audit records in the local spill file, waiting for the database",
            ),
            spilled: counter(
                "audit_spilled_records_total",
                "Audit records written to the local spill file (database outage or bounded shutdown)",
            ),
            dead_lettered: counter(
                "audit_rejected_records_total",
                "Audit records the database refused, kept in prediction_log_rejected",
            ),
            write_errors: counter(
                "audit_write_errors_total",
                "Failed attempts to write an audit batch",
            ),
            lost: counter(
                "audit_lost_records_total",
                "Audit records neither the database nor the spill file took (each logged in full)",
            ),
            errors: Mutex::new(Errors::default()),
        }
    }

    fn set_error(&self, error: Option<String>) {
        self.errors.lock().expect("error lock").database = error;
    }

    fn set_spill_error(&self, error: Option<String>) {
        self.errors.lock().expect("error lock").spill = error;
    }

    fn database_failing(&self) -> bool {
        self.errors.lock().expect("error lock").database.is_some()
    }

    fn spill_failing(&self) -> bool {
        self.errors.lock().expect("error lock").spill.is_some()
    }
}

/// The writer's health, as `/health/ready` reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditHealth {
    /// The last write reached the database.
    pub healthy: bool,
    /// Every answered prediction is kept: in the database, or (during an outage) in the
    /// spill file. False only when both fail: then predictions must stop.
    pub durable: bool,
    /// Records queued for the writer.
    pub backlog: i64,
    /// Records in the spill file, waiting for the database.
    pub spill_pending: i64,
    /// Records the database refused since the start (set aside with the reason).
    pub rejected: u64,
    pub last_error: Option<String>,
    /// Why the spill file failed, while it fails.
    pub spill_error: Option<String>,
}

/// A handle to the log: cheap to clone.
#[derive(Clone)]
pub struct PredictionLog {
    db: Arc<MigratedPool>,
    queue: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    stop: Arc<watch::Sender<bool>>,
    writer: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl PredictionLog {
    /// Opens (and migrates) the database, writes back what an earlier run spilled, and
    /// starts the writer task. Its metrics go into `registry`. A PostgreSQL server that does
    /// not answer does not stop the start: records spill until it does (then the
    /// migrations run and the spill file goes back).
    pub async fn open(
        database: &DatabaseSettings,
        options: AuditOptions,
        registry: &Registry,
    ) -> Result<Self, AuditError> {
        let db = Arc::new(MigratedPool::open(database, &MIGRATIONS).await?);
        let shared = Arc::new(Shared::new(registry));
        if !db.is_migrated() {
            shared.set_error(Some("the database did not answer at start".into()));
        }
        let spill = SpillFile::new(options.spill_file.clone());
        // Known before the first record needs it: can the last resort take records?
        if let Err(e) = spill.check_writable() {
            tracing::error!(file = %spill.path().display(), "the audit spill file is not writable: {e}");
            shared.set_spill_error(Some(e.to_string()));
        }
        if let Ok((pending, _)) = spill.read() {
            shared.spill_pending.set(pending.len() as i64);
        }
        // What an earlier run spilled goes back now, pass by pass (with the database down,
        // the writer does it once it answers).
        while db.is_migrated() {
            match writer::reingest(&db, &spill, &shared).await {
                Ok(true) => break,
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(
                        file = %spill.path().display(),
                        "cannot write the spilled audit records back at start: {e}"
                    );
                    break;
                }
            }
        }
        let (queue, receiver) = mpsc::channel(QUEUE);
        let (stop, stop_receiver) = watch::channel(false);
        let task = tokio::spawn(
            writer::Writer {
                db: db.clone(),
                receiver,
                shared: shared.clone(),
                spill,
                spill_after: options.spill_after,
                stop: stop_receiver,
            }
            .run(),
        );
        Ok(Self {
            db,
            queue,
            shared,
            stop: Arc::new(stop),
            writer: Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
    }

    /// Why an answer could not be recorded now (the database and the spill file both
    /// failing: the spill file's error), or None. One lock and no copies when all is well:
    /// every prediction asks.
    pub fn not_durable(&self) -> Option<String> {
        let errors = self.shared.errors.lock().expect("error lock");
        (!errors.durable()).then(|| errors.spill.clone().unwrap_or_default())
    }

    pub fn health(&self) -> AuditHealth {
        let errors = self.shared.errors.lock().expect("error lock").clone();
        let durable = errors.durable();
        let Errors {
            database: last_error,
            spill: spill_error,
        } = errors;
        AuditHealth {
            healthy: last_error.is_none(),
            durable,
            spill_error,
            backlog: self.shared.backlog.get(),
            spill_pending: self.shared.spill_pending.get(),
            rejected: self.shared.dead_lettered.get(),
            last_error,
        }
    }

    /// Queues a record (waits only when the queue is full, which a database outage does not
    /// cause: the writer spills instead of waiting).
    pub async fn record(&self, record: PredictionRecord) -> Result<(), AuditError> {
        // A slot first (cancel-safe: a request dropped while waiting leaves nothing behind),
        // then the count and the record together.
        let slot = self
            .queue
            .reserve()
            .await
            .map_err(|_| AuditError::Stopped)?;
        self.shared.backlog.inc();
        slot.send(Command::Write(Box::new(record)));
        Ok(())
    }

    /// The shutdown flush, bounded by `grace`: whatever is not in the database by then goes
    /// to the spill file, which the next start writes back.
    pub async fn close(&self, grace: Duration) -> Result<(), AuditError> {
        if tokio::time::timeout(grace, self.flush()).await.is_ok() {
            return Ok(());
        }
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "the audit log could not be flushed in time; spilling what is left"
        );
        let _ = self.stop.send(true);
        if let Some(task) = self.writer.lock().await.take() {
            let _ = task.await;
        }
        Ok(())
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
}

pub use clock::now_micros;

pub fn format_micros(at_us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(at_us as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
