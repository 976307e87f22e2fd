//! Admission control for prediction work. Scoring 1,000 recordings keeps a core busy for
//! about a second, so one client's burst could take every core from everyone else:
//! * each user has at most `per_user` predictions in progress; more are answered 429 with
//!   Retry-After, so one clinician's script cannot starve the ward;
//! * at most `total` predictions are in progress at all; more are answered 503.
//!
//! * of a user's admitted work, at most `running_per_user` runs at once (half the cores; the
//!   rest waits its [`Ticket::turn`]), so one user's admitted work cannot fill the blocking
//!   pool and the cores while another's real-time pushes wait.
//!
//! A [`Ticket`] is held for the duration of the work and frees its slot when dropped. Work
//! checks [`Ticket::cancelled`] between chunks: when the request times out or the client
//! goes away, the handler's future (and with it the ticket's guard) is dropped and the
//! remaining chunks are skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Admission {
    per_user: usize,
    total: usize,
    running_per_user: usize,
    in_progress: Mutex<(usize, HashMap<String, UserSlots>)>,
}

/// One user's admitted work, and the turns to run it.
struct UserSlots {
    admitted: usize,
    running: Arc<Semaphore>,
}

/// Why work was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UserBusy { limit: usize },
    Saturated { limit: usize },
}

/// A slot, freed on drop.
pub struct Ticket {
    admission: Arc<Admission>,
    user: String,
    cancelled: Arc<AtomicBool>,
    running: Arc<Semaphore>,
}

impl Admission {
    pub fn new(per_user: usize, total: usize, running_per_user: usize) -> Self {
        Self {
            per_user: per_user.max(1),
            total: total.max(1),
            running_per_user: running_per_user.max(1),
            in_progress: Mutex::new((0, HashMap::new())),
        }
    }

    pub fn admit(self: &Arc<Self>, user: &str) -> Result<Ticket, Refusal> {
        let mut guard = self.in_progress.lock().expect("admission lock");
        let (total, users) = &mut *guard;
        if *total >= self.total {
            return Err(Refusal::Saturated { limit: self.total });
        }
        let mine = users.entry(user.to_owned()).or_insert_with(|| UserSlots {
            admitted: 0,
            running: Arc::new(Semaphore::new(self.running_per_user)),
        });
        if mine.admitted >= self.per_user {
            return Err(Refusal::UserBusy {
                limit: self.per_user,
            });
        }
        mine.admitted += 1;
        *total += 1;
        Ok(Ticket {
            admission: self.clone(),
            user: user.to_owned(),
            cancelled: Arc::new(AtomicBool::new(false)),
            running: mine.running.clone(),
        })
    }

    /// Predictions in progress, all users together.
    pub fn in_progress(&self) -> usize {
        self.in_progress.lock().expect("admission lock").0
    }
}

impl Ticket {
    /// Waits until this user's work may run (at most `running_per_user` at once).
    pub async fn turn(&self) -> OwnedSemaphorePermit {
        self.running
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Set when the request that asked for the work is gone.
    pub fn cancellation(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    pub fn cancelled(flag: &AtomicBool) -> bool {
        flag.load(Ordering::Relaxed)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
        let mut guard = self.admission.in_progress.lock().expect("admission lock");
        let (total, users) = &mut *guard;
        *total -= 1;
        if let Some(mine) = users.get_mut(&self.user) {
            mine.admitted -= 1;
            if mine.admitted == 0 {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_and_total_limits_hold_and_slots_come_back() {
        let admission = Arc::new(Admission::new(2, 3, 1));
        let a1 = admission.admit("ada").unwrap();
        let _a2 = admission.admit("ada").unwrap();
        assert_eq!(
            admission.admit("ada").err(),
            Some(Refusal::UserBusy { limit: 2 })
        );
        let _b1 = admission.admit("bob").unwrap();
        assert_eq!(
            admission.admit("carol").err(),
            Some(Refusal::Saturated { limit: 3 })
        );
        let flag = a1.cancellation();
        assert!(!Ticket::cancelled(&flag));
        drop(a1);
        assert!(
            Ticket::cancelled(&flag),
            "dropping the ticket cancels the work"
        );
        assert_eq!(admission.in_progress(), 2);
        assert!(admission.admit("ada").is_ok(), "ada's slot came back");
    }

    #[tokio::test]
    async fn a_users_work_takes_turns_while_anothers_runs_at_once() {
        let admission = Arc::new(Admission::new(4, 8, 1));
        let a1 = admission.admit("ada").unwrap();
        let a2 = admission.admit("ada").unwrap();
        let running = a1.turn().await;
        // Ada's second waits for her first; Bob's runs at once.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), a2.turn());
        assert!(waiting.await.is_err(), "ada's second ran beside her first");
        let bob = admission.admit("bob").unwrap();
        let _bob_runs = tokio::time::timeout(std::time::Duration::from_millis(50), bob.turn())
            .await
            .expect("bob runs at once");
        drop(running);
        let _second = tokio::time::timeout(std::time::Duration::from_millis(50), a2.turn())
            .await
            .expect("ada's second runs once her first is done");
    }
}
