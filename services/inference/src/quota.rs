//! Rates tied to the clock: token buckets (a monitoring session's samples paced to real
//! time, a user's reads of patients' signals) and hourly quotas (audited alarms, the excess
//! summarised in one record rather than written one row each). A leaf: no service types.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket in samples: `rate` samples a second, at most `capacity` at once. Starts
/// full (a client may send its first `capacity` samples at once).
#[derive(Debug, Clone)]
pub struct Pace {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes `samples` if the clock allows them; else how long until it does (nothing taken).
    pub fn take(&mut self, samples: usize, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        let wanted = samples as f64;
        if wanted <= self.tokens {
            self.tokens -= wanted;
            return Ok(());
        }
        let missing = wanted.min(self.capacity) - self.tokens;
        Err(Duration::from_secs_f64((missing / self.rate).max(0.001)))
    }

    /// Samples a second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Gives back samples taken for a push that was then refused.
    pub fn refund(&mut self, samples: usize) {
        self.tokens = (self.tokens + samples as f64).min(self.capacity);
    }
}

/// A token bucket per user, each `rate` a second with a burst of `capacity`.
pub struct PerUser {
    rate: f64,
    capacity: f64,
    buckets: Mutex<HashMap<String, Pace>>,
}

impl PerUser {
    pub fn new(rate: f64, capacity: f64) -> Self {
        Self {
            rate,
            capacity,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` from `user`'s bucket, or says how long until it could.
    /// (Buckets idle long enough to be full again are forgotten.)
    pub fn take(&self, user: &str, n: usize, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // Buckets full again are the same as new ones: forget them.
            let refill = Duration::from_secs_f64(self.capacity / self.rate);
            buckets.retain(|_, pace| now.saturating_duration_since(pace.last) < refill);
        }
        buckets
            .entry(user.to_owned())
            .or_insert_with(|| Pace::new(self.rate, self.capacity, now))
            .take(n, now)
    }
}

/// Audited alarms in the current hour (wall clock), at most `limit`; the rest are counted
/// for one summary record.
#[derive(Debug, Clone)]
pub struct AlarmQuota {
    limit: u32,
    started: Instant,
    used: u32,
    suppressed: u64,
}

pub const HOUR: Duration = Duration::from_secs(3600);

impl AlarmQuota {
    pub fn new(limit: u32, now: Instant) -> Self {
        Self {
            limit,
            started: now,
            used: 0,
            suppressed: 0,
        }
    }

    /// Starts a new hour when the current one is over; returns the alarms the ended hour
    /// left unwritten (0 if none, or still in the same hour).
    pub fn roll(&mut self, now: Instant) -> u64 {
        if now.saturating_duration_since(self.started) < HOUR {
            return 0;
        }
        self.started = now;
        self.used = 0;
        std::mem::take(&mut self.suppressed)
    }

    /// Whether the hour this quota counts is still running.
    pub fn is_current(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) < HOUR
    }

    /// Whether one more alarm may be written this hour (counting it).
    pub fn admit(&mut self) -> bool {
        if self.used < self.limit {
            self.used += 1;
            true
        } else {
            false
        }
    }

    /// Counts an alarm that is not written one row for itself.
    pub fn suppress(&mut self) {
        self.suppressed += 1;
    }

    /// Alarms written this hour.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Alarms counted but not yet summarised.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Alarms not yet summarised (taken: the caller writes the summary).
    pub fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_stream_gets_real_time_plus_its_burst_and_no_more() {
        let start = Instant::now();
        let mut pace = Pace::new(100.0, 1_000.0, start);
        assert!(pace.take(1_000, start).is_ok(), "the burst at once");
        // Nothing left: 50 samples need half a second.
        let wait = pace.take(50, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // A second later, 100 samples are allowed, not 101.
        let later = start + Duration::from_secs(1);
        assert!(pace.take(101, later).is_err());
        assert!(pace.take(100, later).is_ok());
        // Idle for an hour: the bucket holds the burst, not an hour of samples.
        let much_later = later + HOUR;
        assert!(pace.take(1_000, much_later).is_ok());
        assert!(pace.take(1, much_later).is_err());
        // A push larger than the burst waits for the burst, never forever.
        let wait = Pace::new(100.0, 1_000.0, start)
            .take(5_000, start)
            .unwrap_err();
        assert!(wait < Duration::from_millis(2), "{wait:?}");
    }

    #[test]
    fn alarms_past_the_hours_limit_are_counted_then_summarised_once() {
        let start = Instant::now();
        let mut quota = AlarmQuota::new(3, start);
        let admitted = (0..10)
            .filter(|_| {
                let ok = quota.admit();
                if !ok {
                    quota.suppress();
                }
                ok
            })
            .count();
        assert_eq!(admitted, 3);
        assert_eq!(quota.roll(start + Duration::from_secs(10)), 0, "same hour");
        assert_eq!(quota.roll(start + HOUR), 7, "the hour's excess, once");
        assert_eq!(quota.roll(start + HOUR + HOUR), 0);
        assert!(quota.admit(), "a new hour");
        quota.suppress();
        assert_eq!(quota.take_suppressed(), 1);
        assert_eq!(quota.take_suppressed(), 0);
    }
}
