//! Writing a batch, or spilling it: transient failures are retried with exponential backoff
//! for at most `spill_after`; then the batch goes to the spill file, and while the outage
//! lasts batches go straight to the file between attempts on a growing schedule (100 ms,
//! doubling, at most 5 s, for as long as it takes).

use std::time::{Duration, Instant};

use super::insert::insert_batch;
use super::outage::{next_delay, retry_delays, Outage};
use super::{stop_requested, PredictionRecord, Writer};

impl Writer {
    pub(super) async fn write_or_spill(
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
        // Without an outage yet, the attempts within `spill_after` wait longer each time;
        // during one, a failed attempt continues the outage's schedule.
        let mut delays = retry_delays();
        let mut delay = next_delay(&mut delays);
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
            if outage.is_some() {
                self.spill_records(&records);
                Outage::schedule(outage);
                return;
            }
            if tokio::time::Instant::now() + delay >= deadline {
                self.spill_records(&records);
                *outage = Some(Outage {
                    next_attempt: Instant::now() + delay,
                    delays,
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
            delay = next_delay(&mut delays);
        }
    }

    /// Checks whether the database answers again (running the migrations if they are due).
    pub(super) async fn probe(&mut self, outage: &mut Option<Outage>) {
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
                Outage::schedule(outage);
            }
        }
    }
}
