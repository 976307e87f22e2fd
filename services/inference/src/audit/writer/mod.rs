//! The writer task. It takes what is queued (up to a batch) and inserts it in one
//! transaction. What the database refuses for good (a constraint, a value it cannot store)
//! is set aside in `prediction_log_rejected` with the reason, and the rest of the batch is
//! written. Transient failures (connection lost, pool timed out, database busy) are retried
//! with backoff; a batch still not written after `spill_after` goes to the spill file, so
//! requests never wait on a database outage and nothing is lost. Once a write succeeds again,
//! the spill file is re-ingested.
//!
//! Here: the task's loop, which takes what is queued and hands it on, and the spill file's
//! side. `retry.rs` writes a batch or spills it, with the schedule of retries during an
//! outage; `write_back.rs` moves spilled records back into the database; `insert.rs` is the
//! SQL, and tells transient failures from the database refusing a record.

mod insert;
mod outage;
mod retry;
mod write_back;

use std::sync::Arc;
use std::time::Duration;

use sql_pool::MigratedPool;
use tokio::sync::{mpsc, watch};

use super::spill::SpillFile;
use super::{Command, PredictionRecord, Shared};
use outage::Outage;

pub use insert::is_transient;
pub use write_back::reingest;

pub const BATCH: usize = 256;
/// How often an idle writer tries to write spilled records back.
const IDLE_RETRY: Duration = Duration::from_secs(1);

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
                        let due = outage.as_ref().is_none_or(Outage::is_due);
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

    pub(super) fn spill_records(&self, records: &[PredictionRecord]) {
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
}

/// Resolves once a stop is requested; never if the handles are gone without asking (then
/// the queue closes and the writer finishes what is queued normally).
pub(super) async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
