//! The registry of open monitoring sessions, bounded in count (in all and per user) and in
//! idle time. Each session holds a `bedside::Monitor` (at most one window of samples).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod limits;
mod status;

pub use limits::{push_text_limit, MonitorLimits, LIVE_CATCH_UP, SOCKET_BUFFER_BYTES};
pub use status::{End, Status};

/// One open session.
pub struct Session {
    pub monitor: bedside::Monitor,
    /// The patient the client said the stream is of.
    pub patient_id: Option<u64>,
    /// Band-pass, notch and resampler from the client's rate to the model's, when the
    /// session was opened with another `input_sampling_hz`.
    pub conditioner: Option<bedside::conditioning::Conditioner>,
    /// Samples the client has pushed (at its own rate): the `offset` of the next push.
    pub input_seen: u64,
    pub model_version: String,
    pub threshold_source: String,
    pub alarms: u64,
    /// Windows scored so far (which of them join the fleet's drift window).
    pub windows_scored: u64,
    /// A replay of recorded EEG (paced at its own speed, its alarms marked as replayed, kept
    /// out of the fleet's drift window), or a live stream (paced to real time).
    pub replay: bool,
    pub pace: crate::quota::Pace,
    pub alarm_quota: crate::quota::AlarmQuota,
    /// Ended (its final events given): a push that was waiting appends nothing.
    pub closed: bool,
}

pub struct Entry {
    /// Conditioned from another rate (`input_sampling_hz`): it holds a resampler.
    pub resampled: bool,
    pub id: String,
    pub owner: String,
    /// The opener's role (for the records written on the session's behalf).
    pub role: String,
    /// The opener's login session (`sid`): revoking it (logout, the user deleted) closes
    /// this monitoring session too.
    pub login_session: Option<String>,
    /// Milliseconds since the registry started, at the last use.
    last_used_ms: AtomicU64,
    /// Locked by a push for its whole inference (on a blocking thread), and by closing it
    /// (awaited: no async worker is held while inference runs).
    pub session: Arc<tokio::sync::Mutex<Session>>,
    /// The session as of its last completed push.
    status: Mutex<Status>,
    /// Set once, when the session leaves the registry: its socket (if any) closes on it.
    ended: tokio::sync::watch::Sender<Option<End>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Full {
        limit: usize,
    },
    UserFull {
        limit: usize,
    },
    /// Too many sessions opened this minute; retry after this many seconds.
    TooOften {
        retry_after: u64,
    },
    /// Every resampling session (`input_sampling_hz` other than the model's) is taken.
    ResamplingFull {
        limit: usize,
    },
    /// The caller has their share of resampling sessions open.
    UserResamplingFull {
        limit: usize,
    },
}

/// Open sockets, in all and per user.
#[derive(Default)]
struct SocketCounts {
    total: usize,
    per_user: HashMap<String, usize>,
}

pub struct Sessions {
    pub limits: MonitorLimits,
    started: Instant,
    map: Mutex<HashMap<String, Arc<Entry>>>,
    /// Set when the service shuts down: open sockets end their sessions and close.
    closing: tokio::sync::watch::Sender<bool>,
    /// WebSockets from their handshake until they are closed.
    sockets: Arc<Mutex<SocketCounts>>,
    /// Alarms written per user this hour, and those past the quota to summarise.
    user_alarms: Mutex<HashMap<String, UserAlarms>>,
    /// Sessions opened per user.
    opens: crate::quota::PerUser,
}

struct UserAlarms {
    role: String,
    /// Rows written this hour; its `suppressed` counts live alarms past the quotas.
    quota: crate::quota::AlarmQuota,
    /// Replayed alarms past the quotas (summarised apart, marked as replayed).
    replay_suppressed: u64,
}

/// Alarms of one user not written one row each: one audit record says how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSummary {
    pub owner: String,
    pub role: String,
    pub count: u64,
    /// Alarms of replay sessions (written as `monitor_replay_alarms_summary`).
    pub replay: bool,
}

/// One socket's place under the socket caps, held from the handshake until the socket is
/// closed (it moves into the upgraded connection's task).
pub struct SocketPermit {
    counts: Arc<Mutex<SocketCounts>>,
    owner: String,
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.total -= 1;
        if let Some(mine) = counts.per_user.get_mut(&self.owner) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_user.remove(&self.owner);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sessions {
    pub fn new(limits: MonitorLimits) -> Self {
        Self {
            started: Instant::now(),
            map: Mutex::new(HashMap::new()),
            closing: tokio::sync::watch::Sender::new(false),
            sockets: Arc::default(),
            opens: crate::quota::PerUser::new(
                f64::from(limits.max_session_opens_per_minute) / 60.0,
                f64::from(limits.max_session_opens_per_minute),
            ),
            user_alarms: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// Whether one more alarm of `owner` may be written one row for itself this hour.
    pub fn admit_user_alarm(&self, owner: &str, role: &str, now: Instant) -> bool {
        let mut users = lock(&self.user_alarms);
        let user = users.entry(owner.to_owned()).or_insert_with(|| UserAlarms {
            role: role.to_owned(),
            quota: crate::quota::AlarmQuota::new(self.limits.max_user_alarms_per_hour, now),
            replay_suppressed: 0,
        });
        // An hour with alarms to summarise is rolled by the sweeper, which writes them.
        if !user.quota.is_current(now)
            && user.quota.suppressed() == 0
            && user.replay_suppressed == 0
        {
            user.quota.roll(now);
        }
        user.quota.admit()
    }

    /// Counts an alarm of `owner` that is not written one row for itself.
    pub fn suppress_user_alarm(&self, owner: &str, replay: bool) {
        if let Some(user) = lock(&self.user_alarms).get_mut(owner) {
            if replay {
                user.replay_suppressed += 1;
            } else {
                user.quota.suppress();
            }
        }
    }

    /// The summaries due: users whose hour ended with alarms past the quotas (every user
    /// with any, when `closing`); an ended hour is rolled over. Users whose hour ended with
    /// nothing to count are forgotten.
    pub fn take_alarm_summaries(&self, now: Instant, closing: bool) -> Vec<AlarmSummary> {
        let mut users = lock(&self.user_alarms);
        let mut due = Vec::new();
        for (owner, user) in users.iter_mut() {
            let ended = !user.quota.is_current(now);
            if !(closing || ended) {
                continue;
            }
            let live = if ended {
                user.quota.roll(now)
            } else {
                user.quota.take_suppressed()
            };
            let replayed = std::mem::take(&mut user.replay_suppressed);
            for (count, replay) in [(live, false), (replayed, true)] {
                if count > 0 {
                    due.push(AlarmSummary {
                        owner: owner.clone(),
                        role: user.role.clone(),
                        count,
                        replay,
                    });
                }
            }
        }
        // A user forgotten at the next sweep after an hour with nothing to count.
        users.retain(|_, user| {
            user.quota.is_current(now)
                && (user.quota.used() > 0
                    || user.quota.suppressed() > 0
                    || user.replay_suppressed > 0)
        });
        due
    }

    /// A place for one more socket of `owner`, within the caps.
    pub fn admit_socket(&self, owner: &str) -> Result<SocketPermit, Refusal> {
        let mut counts = lock(&self.sockets);
        if counts.total >= self.limits.max_monitor_sockets {
            return Err(Refusal::Full {
                limit: self.limits.max_monitor_sockets,
            });
        }
        let mine = counts.per_user.get(owner).copied().unwrap_or(0);
        if mine >= self.limits.max_monitor_sockets_per_user {
            return Err(Refusal::UserFull {
                limit: self.limits.max_monitor_sockets_per_user,
            });
        }
        counts.total += 1;
        *counts.per_user.entry(owner.to_owned()).or_default() += 1;
        Ok(SocketPermit {
            counts: Arc::clone(&self.sockets),
            owner: owner.to_owned(),
        })
    }

    /// Sockets open now (from their handshake).
    pub fn sockets(&self) -> usize {
        lock(&self.sockets).total
    }

    /// Resolves when the service starts shutting down.
    pub async fn closing(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// Tells open sockets to end their sessions and waits (at most `grace`) until they have.
    pub async fn shut_down(&self, grace: Duration) {
        let _ = self.closing.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.sockets() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn idle_timeout(&self) -> Duration {
        self.limits.idle
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        lock(&self.map)
    }

    /// Closes sessions idle for longer than the timeout (their sockets close with them);
    /// returns them.
    pub fn sweep(&self) -> Vec<Arc<Entry>> {
        let now = self.now_ms();
        let limit = self.idle_timeout().as_millis() as u64;
        self.remove_where(
            |e| now.saturating_sub(e.last_used_ms.load(Ordering::Relaxed)) > limit,
            End::Idle,
        )
    }

    /// Closes sessions whose opener's login session was revoked (logout, the user
    /// deleted); their sockets close with them. Returns them.
    pub fn sweep_revoked(&self, revoked: impl Fn(&str) -> bool) -> Vec<Arc<Entry>> {
        self.remove_where(
            |e| e.login_session.as_deref().is_some_and(&revoked),
            End::Token,
        )
    }

    /// Removes and ends (for `why`) the sessions `ended` picks.
    fn remove_where(&self, ended: impl Fn(&Entry) -> bool, why: End) -> Vec<Arc<Entry>> {
        let mut map = self.lock();
        let ids: Vec<String> = map
            .values()
            .filter(|e| ended(e))
            .map(|e| e.id.clone())
            .collect();
        let removed: Vec<Arc<Entry>> = ids.iter().filter_map(|id| map.remove(id)).collect();
        for entry in &removed {
            entry.end(why);
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a session for `owner`, within the bounds.
    pub fn open(
        &self,
        opener: &auth_tokens::Claims,
        session: Session,
    ) -> Result<Arc<Entry>, Refusal> {
        let owner = opener.sub.as_str();
        let mut map = self.lock();
        if map.len() >= self.limits.max_monitor_sessions {
            return Err(Refusal::Full {
                limit: self.limits.max_monitor_sessions,
            });
        }
        let resampled = session.conditioner.is_some();
        if resampled {
            let open = map.values().filter(|e| e.resampled).count();
            if open >= self.limits.max_resampled_sessions {
                return Err(Refusal::ResamplingFull {
                    limit: self.limits.max_resampled_sessions,
                });
            }
            let mine = map
                .values()
                .filter(|e| e.resampled && e.owner == owner)
                .count();
            if mine >= self.limits.max_resampled_sessions_per_user {
                return Err(Refusal::UserResamplingFull {
                    limit: self.limits.max_resampled_sessions_per_user,
                });
            }
        }
        let mine = map.values().filter(|e| e.owner == owner).count();
        if mine >= self.limits.max_monitor_sessions_per_user {
            return Err(Refusal::UserFull {
                limit: self.limits.max_monitor_sessions_per_user,
            });
        }
        if let Err(wait) = self.opens.take(owner, 1, Instant::now()) {
            return Err(Refusal::TooOften {
                retry_after: wait.as_secs().max(1),
            });
        }
        let entry = Arc::new(Entry {
            id: auth_tokens::random_id(),
            owner: owner.to_owned(),
            role: opener.role.as_str().to_owned(),
            login_session: opener.sid.clone(),
            resampled,
            last_used_ms: AtomicU64::new(self.now_ms()),
            status: Mutex::new(Status::of(&session)),
            session: Arc::new(tokio::sync::Mutex::new(session)),
            ended: tokio::sync::watch::Sender::new(None),
        });
        map.insert(entry.id.clone(), entry.clone());
        Ok(entry)
    }

    /// The session `id` if `caller` may use it (its owner, or an admin); touching it.
    pub fn get(&self, id: &str, caller: &str, admin: bool) -> Option<Arc<Entry>> {
        let map = self.lock();
        let entry = map.get(id).filter(|e| admin || e.owner == caller)?;
        entry.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
        Some(entry.clone())
    }

    /// Removes the session `id` if `caller` may use it, ending it (and its socket) for `why`.
    pub fn remove(&self, id: &str, caller: &str, admin: bool, why: End) -> Option<Arc<Entry>> {
        let mut map = self.lock();
        if !map.get(id).is_some_and(|e| admin || e.owner == caller) {
            return None;
        }
        let entry = map.remove(id)?;
        entry.end(why);
        Some(entry)
    }
}

impl Entry {
    /// The session as of its last completed push (never waits for one in progress).
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Records the session's state after a push or its end.
    pub fn update_status(&self, session: &Session) {
        *lock(&self.status) = Status::of(session);
    }

    /// Marks the session ended (the first reason stays).
    fn end(&self, why: End) {
        self.ended.send_if_modified(|end| {
            let first = end.is_none();
            if first {
                *end = Some(why);
            }
            first
        });
    }

    /// Whether the session has left the registry (closed, swept, revoked).
    pub fn is_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// Resolves with the reason once the session has left the registry.
    pub async fn ended(&self) -> End {
        let mut ended = self.ended.subscribe();
        let end = match ended.wait_for(Option::is_some).await {
            Ok(end) => *end,
            // The sender lives in the entry itself, so this cannot happen while we borrow it.
            Err(_) => None,
        };
        end.unwrap_or(End::ClientGone)
    }
}
