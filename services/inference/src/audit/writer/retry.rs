//! Writing a batch, or spilling it: transient failures are retried with exponential backoff
//! for at most `spill_after`; then the batch goes to the spill file, and while the outage
//! lasts batches go straight to the file between attempts on a growing schedule (100 ms,
//! doubling, at most 5 s, for as long as it takes).

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use super::insert::insert_batch;
use super::{stop_requested, PredictionRecord, Writer};

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// The waits between attempts: `FIRST_RETRY`, doubling up to `LONGEST_RETRY`, without jitter
/// and without end.
fn retry_delays() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY)
        .with_factor(2.0)
        .with_max_delay(LONGEST_RETRY)
        .without_max_times()
        .build()
}

fn next_delay(delays: &mut ExponentialBackoff) -> Duration {
    delays.next().unwrap_or(LONGEST_RETRY)
}

/// The retry schedule while the database is failing.
pub(super) struct Outage {
    next_attempt: Instant,
    /// The waits after the next attempt, should it fail too.
    delays: ExponentialBackoff,
}

impl Outage {
    /// Whether the next attempt is due.
    pub(super) fn is_due(&self) -> bool {
        Instant::now() >= self.next_attempt
    }

    /// After a failed attempt: the next one waits for the schedule's next delay, starting an
    /// outage if there was none.
    pub(super) fn schedule(outage: &mut Option<Outage>) {
        let mut delays = outage.take().map_or_else(retry_delays, |o| o.delays);
        let delay = next_delay(&mut delays);
        *outage = Some(Outage {
            next_attempt: Instant::now() + delay,
            delays,
        });
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_100_ms_doubling_up_to_5_s_without_end() {
        let mut delays = retry_delays();
        let waits: Vec<u128> = (0..10)
            .map(|_| next_delay(&mut delays).as_millis())
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn an_outage_continues_its_schedule() {
        let mut outage = None;
        Outage::schedule(&mut outage);
        let first = outage.as_ref().unwrap().next_attempt;
        Outage::schedule(&mut outage);
        let o = outage.as_mut().unwrap();
        assert!(o.next_attempt >= first + Duration::from_millis(100));
        assert_eq!(next_delay(&mut o.delays).as_millis(), 400);
    }
}
