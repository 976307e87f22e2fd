//! The registry of open monitoring sessions, bounded in count (in all and per user) and in
//! idle time. Each session holds a `bedside::Monitor` (at most one window of samples).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

/// Bounds on monitoring sessions (flags of the inference service).
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// Monitoring sessions open at once, all users together; more are refused (503).
    #[arg(long, env = "MAX_MONITOR_SESSIONS", default_value_t = 4096, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sessions: usize,
    /// Monitoring sessions one user may have open; more are refused (429).
    #[arg(long, env = "MAX_MONITOR_SESSIONS_PER_USER", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sessions_per_user: usize,
    /// A session without a push for this long is closed (its end is logged).
    #[arg(long, env = "MONITOR_IDLE_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub monitor_idle_seconds: u64,
    /// Most samples one push may carry (17,361 = 100 s at 173.61 Hz); more are refused (413).
    #[arg(long, env = "MAX_MONITOR_PUSH_SAMPLES", default_value_t = 17_361, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_push_samples: usize,
}

impl Default for MonitorArgs {
    fn default() -> Self {
        Self {
            max_monitor_sessions: 4096,
            max_monitor_sessions_per_user: 256,
            monitor_idle_seconds: 60,
            max_monitor_push_samples: 17_361,
        }
    }
}

/// One open session.
pub struct Session {
    pub monitor: bedside::Monitor,
    pub model_version: String,
    pub threshold_source: String,
    pub alarms: u64,
    /// Windows scored so far (which of them join the fleet's drift window).
    pub windows_scored: u64,
}

pub struct Entry {
    pub id: String,
    pub owner: String,
    /// Milliseconds since the registry started, at the last use.
    last_used_ms: AtomicU64,
    pub session: Mutex<Session>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Full { limit: usize },
    UserFull { limit: usize },
}

pub struct Sessions {
    pub limits: MonitorArgs,
    started: Instant,
    map: Mutex<HashMap<String, Arc<Entry>>>,
    /// Set when the service shuts down: open sockets end their sessions and close.
    closing: tokio::sync::watch::Sender<bool>,
    /// WebSocket sessions running now.
    sockets: AtomicU64,
}

/// Counts one running socket while it lives.
pub struct SocketGuard<'a>(&'a Sessions);

impl Drop for SocketGuard<'_> {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Sessions {
    pub fn new(limits: MonitorArgs) -> Self {
        Self {
            limits,
            started: Instant::now(),
            map: Mutex::new(HashMap::new()),
            closing: tokio::sync::watch::Sender::new(false),
            sockets: AtomicU64::new(0),
        }
    }

    /// Registers a running socket until the guard drops.
    pub fn socket(&self) -> SocketGuard<'_> {
        self.sockets.fetch_add(1, Ordering::SeqCst);
        SocketGuard(self)
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
        while self.sockets.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.monitor_idle_seconds)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes sessions idle for longer than the timeout; returns them.
    pub fn sweep(&self) -> Vec<Arc<Entry>> {
        let now = self.now_ms();
        let limit = self.idle_timeout().as_millis() as u64;
        let mut map = self.lock();
        let expired: Vec<String> = map
            .values()
            .filter(|e| now.saturating_sub(e.last_used_ms.load(Ordering::Relaxed)) > limit)
            .map(|e| e.id.clone())
            .collect();
        expired.iter().filter_map(|id| map.remove(id)).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a session for `owner`, within the bounds.
    pub fn open(&self, owner: &str, session: Session) -> Result<Arc<Entry>, Refusal> {
        let mut map = self.lock();
        if map.len() >= self.limits.max_monitor_sessions {
            return Err(Refusal::Full {
                limit: self.limits.max_monitor_sessions,
            });
        }
        let mine = map.values().filter(|e| e.owner == owner).count();
        if mine >= self.limits.max_monitor_sessions_per_user {
            return Err(Refusal::UserFull {
                limit: self.limits.max_monitor_sessions_per_user,
            });
        }
        let entry = Arc::new(Entry {
            id: auth_tokens::random_id(),
            owner: owner.to_owned(),
            last_used_ms: AtomicU64::new(self.now_ms()),
            session: Mutex::new(session),
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

    /// Removes the session `id` if `caller` may use it.
    pub fn remove(&self, id: &str, caller: &str, admin: bool) -> Option<Arc<Entry>> {
        let mut map = self.lock();
        if !map.get(id).is_some_and(|e| admin || e.owner == caller) {
            return None;
        }
        map.remove(id)
    }
}

impl Entry {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
