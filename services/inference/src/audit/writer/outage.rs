//! The retry schedule of the audit writer: 100 ms, doubling, at most 5 s, for as long as the
//! database fails (backon's exponential backoff, without jitter and without end). Shared by
//! the writes, the probes and the write-back of the spill file, which continue one schedule
//! through an outage.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// The waits between attempts: `FIRST_RETRY`, doubling up to `LONGEST_RETRY`, without jitter
/// and without end.
pub(super) fn retry_delays() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY)
        .with_factor(2.0)
        .with_max_delay(LONGEST_RETRY)
        .without_max_times()
        .build()
}

pub(super) fn next_delay(delays: &mut ExponentialBackoff) -> Duration {
    delays.next().unwrap_or(LONGEST_RETRY)
}

/// The retry schedule while the database is failing.
pub(super) struct Outage {
    pub(super) next_attempt: Instant,
    /// The waits after the next attempt, should it fail too.
    pub(super) delays: ExponentialBackoff,
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
