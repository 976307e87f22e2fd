//! The writer task. It takes what is queued (up to a batch) and inserts it in one
//! transaction. What the database refuses for good (a constraint, a value it cannot store)
//! is set aside in `prediction_log_rejected` with the reason, and the rest of the batch is
//! written. Transient failures (connection lost, pool timed out, database busy) are retried
//! with backoff; a batch still not written after `spill_after` goes to the spill file, so
//! requests never wait on a database outage and nothing is lost. Once a write succeeds again,
//! the spill file is re-ingested.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sql_pool::MigratedPool;
use sqlx::AnyPool;
use tokio::sync::{mpsc, watch};

use super::spill::SpillFile;
use super::{now_micros, Command, PredictionRecord, Shared};

pub const BATCH: usize = 256;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);
/// How often an idle writer tries to write spilled records back.
const IDLE_RETRY: Duration = Duration::from_secs(1);

/// Whether an error may go away by itself (retry, spill), or is the database refusing this
/// record for good (set aside). Only errors about the data itself are permanent: anything
/// else (connections, locks, a read-only replica after failover, permissions being fixed)
/// is retried, so no answered prediction ends up outside the log because of the server.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
            if let Ok(sqlite) = code.parse::<u32>() {
                // SQLite primary codes about the data: TOOBIG 18, CONSTRAINT 19, MISMATCH 20,
                // RANGE 25.
                return !matches!(sqlite % 256, 18 | 19 | 20 | 25);
            }
            // PostgreSQL: class 22 (data exception) and 23 (integrity constraint violation).
            !(code.starts_with("22") || code.starts_with("23"))
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => false,
        _ => true,
    }
}

pub struct Writer {
    pub db: Arc<MigratedPool>,
    pub receiver: mpsc::Receiver<Command>,
    pub shared: Arc<Shared>,
    pub spill: SpillFile,
    /// A batch failing transiently for this long is spilled.
    pub spill_after: Duration,
    /// Set by a shutdown whose flush ran out of time: spill everything, then stop.
    pub stop: watch::Receiver<bool>,
}

/// The retry schedule while the database is failing.
struct Outage {
    next_attempt: Instant,
    delay: Duration,
}

impl Writer {
    pub async fn run(mut self) {
        let mut commands = Vec::with_capacity(BATCH);
        let mut outage: Option<Outage> = None;
        // A fixed instant, not a fresh sleep per loop: commands arriving often (flushes,
        // say) must not starve the write-back of spilled records.
        let mut write_back_at = tokio::time::Instant::now() + IDLE_RETRY;
        loop {
            let stopping = *self.stop.borrow();
            let received = if stopping {
                // Take what is still queued without waiting for more.
                let mut taken = 0;
                while taken < BATCH {
                    match self.receiver.try_recv() {
                        Ok(command) => {
                            commands.push(command);
                            taken += 1;
                        }
                        Err(_) => break,
                    }
                }
                taken
            } else {
                let waiting_spill = self.shared.spill_pending.get() > 0;
                let failing = self.shared.database_failing() || self.shared.spill_failing();
                tokio::select! {
                    n = self.receiver.recv_many(&mut commands, BATCH) => n,
                    _ = stop_requested(&mut self.stop) => continue,
                    // With nothing new to write, spilled records still go back once the
                    // database answers, and a failing database is probed, so the health
                    // report recovers without traffic.
                    _ = tokio::time::sleep_until(write_back_at), if waiting_spill || failing => {
                        write_back_at = tokio::time::Instant::now() + IDLE_RETRY;
                        let due = outage.as_ref().is_none_or(|o| Instant::now() >= o.next_attempt);
                        // A failing spill file is retried whatever the database does: once
                        // the disk is fixed, predictions are admitted again.
                        if self.shared.spill_failing() {
                            self.probe_spill();
                        }
                        if due && waiting_spill {
                            self.write_back(&mut outage).await;
                        } else if due && self.shared.database_failing() {
                            self.probe(&mut outage).await;
                        }
                        continue;
                    }
                }
            };
            if received == 0 {
                return;
            }
            let mut records = Vec::new();
            let mut flushes = Vec::new();
            for command in commands.drain(..) {
                match command {
                    Command::Write(record) => records.push(*record),
                    Command::Flush(done) => flushes.push(done),
                }
            }
            let count = records.len() as i64;
            if stopping {
                self.spill_records(&records);
            } else {
                self.write_or_spill(records, &mut outage).await;
            }
            self.shared.backlog.sub(count);
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    async fn write_or_spill(
        &mut self,
        records: Vec<PredictionRecord>,
        outage: &mut Option<Outage>,
    ) {
        if records.is_empty() {
            return;
        }
        // While the database is down, batches between two attempts go straight to the file.
        if let Some(o) = outage {
            if Instant::now() < o.next_attempt {
                self.spill_records(&records);
                return;
            }
        }
        // However the database misbehaves (refusing, or hanging on connect), a batch is in
        // the database or on disk within `spill_after`.
        let deadline = tokio::time::Instant::now() + self.spill_after;
        let mut delay = outage.as_ref().map_or(FIRST_RETRY, |o| o.delay);
        loop {
            let result = tokio::select! {
                result = insert_batch(&self.db, &records, &self.shared) => Some(result),
                _ = tokio::time::sleep_until(deadline) => None,
                _ = stop_requested(&mut self.stop) => {
                    self.spill_records(&records);
                    return;
                }
            };
            let error = match result {
                Some(Ok(())) => {
                    if outage.take().is_some() {
                        tracing::info!("the prediction audit log is writable again");
                    }
                    self.shared.set_error(None);
                    if self.shared.spill_pending.get() > 0 {
                        self.write_back(outage).await;
                    }
                    return;
                }
                Some(Err(e)) => e.to_string(),
                None => format!(
                    "the database did not take the batch within {} ms",
                    self.spill_after.as_millis()
                ),
            };
            self.shared.write_errors.inc();
            self.shared.set_error(Some(error.clone()));
            tracing::error!(
                records = records.len(),
                "cannot write the prediction audit log: {error}"
            );
            if outage.is_some() || tokio::time::Instant::now() + delay >= deadline {
                self.spill_records(&records);
                *outage = Some(Outage {
                    next_attempt: Instant::now() + delay,
                    delay: (delay * 2).min(LONGEST_RETRY),
                });
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop_requested(&mut self.stop) => {
                    self.spill_records(&records);
                    return;
                }
            }
            delay = (delay * 2).min(LONGEST_RETRY);
        }
    }

    /// Checks whether the database answers again (running the migrations if they are due).
    async fn probe(&mut self, outage: &mut Option<Outage>) {
        let limit = self.spill_after.max(Duration::from_secs(1));
        let db = self.db.clone();
        let answer = tokio::time::timeout(limit, async move {
            let pool = db.get().await?;
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
        .await;
        match answer {
            Ok(Ok(())) => {
                outage.take();
                self.shared.set_error(None);
                tracing::info!("the prediction audit database answers again");
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {} ms", limit.as_millis()),
                };
                self.shared.set_error(Some(error));
                let delay = outage.as_ref().map_or(FIRST_RETRY, |o| o.delay);
                *outage = Some(Outage {
                    next_attempt: Instant::now() + delay,
                    delay: (delay * 2).min(LONGEST_RETRY),
                });
            }
        }
    }

    /// Checks whether the spill file takes records again.
    fn probe_spill(&self) {
        match self.spill.check_writable() {
            Ok(()) => {
                self.shared.set_spill_error(None);
                tracing::info!(file = %self.spill.path().display(), "the audit spill file is writable again");
            }
            Err(e) => self.shared.set_spill_error(Some(e.to_string())),
        }
    }

    fn spill_records(&self, records: &[PredictionRecord]) {
        if records.is_empty() {
            return;
        }
        match self.spill.append(records) {
            Ok(()) => {
                self.shared.set_spill_error(None);
                self.shared.spilled.inc_by(records.len() as u64);
                self.shared.spill_pending.add(records.len() as i64);
                tracing::warn!(
                    records = records.len(),
                    file = %self.spill.path().display(),
                    "audit records spilled to the local file; they are written to the database once it answers"
                );
            }
            // The last resort failed too: say exactly what is lost, record by record.
            Err(e) => {
                self.shared.set_spill_error(Some(e.to_string()));
                self.shared.lost.inc_by(records.len() as u64);
                for record in records {
                    tracing::error!(
                        id = %record.id,
                        record = %serde_json::to_string(record).unwrap_or_default(),
                        "AUDIT RECORD LOST: neither the database nor the spill file {} takes it: {e}",
                        self.spill.path().display()
                    );
                }
            }
        }
    }

    /// Moves the spill file's records into the database, then removes the file; bounded in
    /// time, and a failure schedules the next attempt.
    async fn write_back(&mut self, outage: &mut Option<Outage>) {
        let limit = (self.spill_after * 10).max(Duration::from_secs(5));
        let result = tokio::select! {
            result = tokio::time::timeout(limit, reingest(&self.db, &self.spill, &self.shared)) => {
                result.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {} s", limit.as_secs())))
            }
            // A shutdown does not wait for the write-back: the file stays for the next start.
            _ = stop_requested(&mut self.stop) => return,
        };
        match result {
            Ok(_) => {
                outage.take();
                self.shared.set_error(None);
            }
            Err(e) => {
                tracing::warn!(
                    file = %self.spill.path().display(),
                    "cannot write spilled audit records back yet: {e}"
                );
                let delay = outage.as_ref().map_or(FIRST_RETRY, |o| o.delay);
                *outage = Some(Outage {
                    next_attempt: Instant::now() + delay,
                    delay: (delay * 2).min(LONGEST_RETRY),
                });
                self.shared.set_error(Some(e.to_string()));
            }
        }
    }
}

/// Resolves once a stop is requested; never if the handles are gone without asking (then
/// the queue closes and the writer finishes what is queued normally).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Records written back per pass: the writer returns to its queue between passes, so a
/// large spill file after a long outage never holds up new predictions.
const WRITE_BACK_PASS: usize = 8 * BATCH;

/// Writes back the first records of `spill` (inserts skip ids already present), then
/// rewrites the file with the rest, or removes it. Lines that are not records go to the
/// `.rejected` companion file. Returns whether the file is now empty.
pub async fn reingest(
    db: &MigratedPool,
    spill: &SpillFile,
    shared: &Shared,
) -> anyhow::Result<bool> {
    let (records, bad) = spill.read()?;
    if !bad.is_empty() {
        // Set aside once: they leave the spill file before any insert can fail.
        spill.set_aside(&bad)?;
        spill.replace(&records)?;
        for line in &bad {
            tracing::error!(
                line = line.line,
                file = %spill.rejected_path().display(),
                "a spilled audit line is not a record ({}); kept byte for byte",
                line.reason
            );
        }
    }
    let pass = records.len().min(WRITE_BACK_PASS);
    for chunk in records[..pass].chunks(BATCH) {
        insert_batch(db, chunk, shared).await?;
    }
    let rest = &records[pass..];
    spill.replace(rest)?;
    shared.spill_pending.set(rest.len() as i64);
    if pass > 0 || !bad.is_empty() {
        tracing::info!(
            records = pass,
            left = rest.len(),
            unreadable = bad.len(),
            "spilled audit records written back to the database"
        );
    }
    Ok(rest.is_empty())
}

/// Inserts the batch in one transaction (after the migrations, if the database was down at
/// start). If the database refuses it for good, each record is tried alone and the refused
/// ones are set aside with the reason.
async fn insert_batch(
    db: &MigratedPool,
    records: &[PredictionRecord],
    shared: &Shared,
) -> Result<(), sqlx::Error> {
    let pool = db.get().await?;
    match insert_all(pool, records).await {
        Ok(()) => Ok(()),
        Err(e) if is_transient(&e) => Err(e),
        Err(batch_error) => {
            tracing::warn!(
                "the database refused an audit batch ({batch_error}); writing record by record"
            );
            for record in records {
                match insert_all(pool, std::slice::from_ref(record)).await {
                    Ok(()) => {}
                    Err(e) if is_transient(&e) => return Err(e),
                    Err(e) => {
                        let text = serde_json::to_string(record).unwrap_or_default();
                        reject(pool, &record.id, record.at_us, &e.to_string(), &text).await?;
                        shared.dead_lettered.inc();
                        tracing::error!(
                            id = %record.id,
                            "the database refused an audit record; kept in prediction_log_rejected: {e}"
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

async fn reject(
    pool: &AnyPool,
    id: &str,
    at_us: i64,
    reason: &str,
    record: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO prediction_log_rejected (id, at_us, rejected_at, reason, record) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(at_us)
    .bind(now_micros())
    .bind(reason)
    .bind(record)
    .execute(pool)
    .await?;
    Ok(())
}

async fn insert_all(pool: &AnyPool, records: &[PredictionRecord]) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut transaction = pool.begin().await?;
    for r in records {
        sqlx::query(
            "INSERT INTO prediction_log (id, at_us, username, role, request_id, patient_id, \
             model_version, recordings, seizure_probability, prediction, epileptic_recordings, \
             kind, session_id, acknowledges) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO NOTHING",
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
        .bind(&r.kind)
        .bind(r.session_id.as_deref())
        .bind(r.acknowledges.as_deref())
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
