//! Bounded password hashing. An argon2id check takes 19 MiB and tens of milliseconds of one
//! core; run unbounded, a burst of logins exhausts memory (80 concurrent ones once took the
//! service from 38 MiB to 1.5 GiB). At most `concurrency` checks run at once, each in one of
//! `concurrency` working buffers allocated once and reused (so the allocator never piles up
//! freed 19 MiB blocks in per-thread arenas); at most `queue` more wait (each for at most
//! `max_wait`), and the rest are shed with 503 + Retry-After.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct HashingLimiter {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    max_wait: Duration,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// The right to run one check, with its working memory; both go back on drop.
pub struct HashPermit {
    _running: OwnedSemaphorePermit,
    memory: Vec<Block>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl HashPermit {
    pub fn memory(&mut self) -> &mut Vec<Block> {
        &mut self.memory
    }
}

impl Drop for HashPermit {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        self.buffers.lock().expect("buffer lock").push(memory);
    }
}

impl HashingLimiter {
    pub fn new(concurrency: usize, queue: usize, max_wait: Duration) -> Self {
        Self {
            running: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
            max_wait,
            buffers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// About one check per core, and a short queue.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, 4 * cores, Duration::from_secs(2))
    }

    /// A permit to hash, or `None` when the service is saturated (answer 503).
    pub async fn enter(&self) -> Option<HashPermit> {
        let running = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Counted while waiting, uncounted on every way out, a client that goes
                // away (the future dropped) included.
                struct Waiting<'a>(&'a AtomicUsize);
                impl Drop for Waiting<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
                let _waiting = Waiting(&self.waiting);
                if queued >= self.queue {
                    return None;
                }
                tokio::time::timeout(self.max_wait, self.running.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)?
            }
        };
        let memory = self
            .buffers
            .lock()
            .expect("buffer lock")
            .pop()
            .unwrap_or_default();
        Some(HashPermit {
            _running: running,
            memory,
            buffers: self.buffers.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_most_concurrency_run_and_the_queue_is_bounded() {
        let limiter = Arc::new(HashingLimiter::new(2, 1, Duration::from_millis(200)));
        let a = limiter.enter().await.expect("first runs");
        let _b = limiter.enter().await.expect("second runs");
        // The third waits in the queue; a fourth finds the queue full and is shed at once.
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.enter().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(limiter.enter().await.is_none(), "queue full: shed");
        drop(a);
        assert!(waiting.await.unwrap(), "the waiter gets the freed permit");
        // Nobody frees a permit now: a waiter gives up after max_wait.
        let started = std::time::Instant::now();
        let _c = limiter.enter().await;
        assert!(limiter.enter().await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_gives_its_queue_place_back() {
        let limiter = Arc::new(HashingLimiter::new(1, 1, Duration::from_secs(30)));
        let _running = limiter.enter().await.unwrap();
        let gone = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.enter().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(limiter.waiting.load(Ordering::SeqCst), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(
            limiter.waiting.load(Ordering::SeqCst),
            0,
            "the place is free again"
        );
    }
}
