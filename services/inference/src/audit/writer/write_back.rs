//! Writing spilled records back: after an outage, and at every start. Each pass is bounded,
//! so a large spill file never holds up new predictions.

use std::time::Duration;

use sql_pool::MigratedPool;

use super::insert::insert_batch;
use super::outage::Outage;
use super::{stop_requested, Writer, BATCH};
use crate::audit::spill::SpillFile;
use crate::audit::Shared;

impl Writer {
    /// Moves the spill file's records into the database, then removes the file; bounded in
    /// time, and a failure schedules the next attempt.
    pub(super) async fn write_back(&mut self, outage: &mut Option<Outage>) {
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
                Outage::schedule(outage);
                self.shared.set_error(Some(e.to_string()));
            }
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
