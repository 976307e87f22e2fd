//! How much monitoring the service takes: the bounds on sessions and sockets, the pace of a
//! live session, and the size of one push.

use std::time::Duration;

/// Bounds on monitoring sessions (the inference service's `MAX_MONITOR_*` settings; the flags
/// that set them are `config::MonitorFlags`). docs/hardening.md, "Memory budget", has the
/// arithmetic the defaults come from.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorLimits {
    /// Sessions open at once, all users together (503 past it).
    pub max_monitor_sessions: usize,
    /// Sessions one user may have open (429 past it).
    pub max_monitor_sessions_per_user: usize,
    /// A session without a push for this long is closed.
    pub idle: Duration,
    /// Most samples one push may carry (413 past it).
    pub max_monitor_push_samples: usize,
    /// WebSockets open at once, all users together (503 past it).
    pub max_monitor_sockets: usize,
    /// WebSockets one user may have open (429 past it).
    pub max_monitor_sockets_per_user: usize,
    /// How fast a replay may stream, in times real time.
    pub monitor_replay_speed: u32,
    /// One session's alarms written one row each per hour.
    pub max_session_alarms_per_hour: u32,
    /// One user's alarms written one row each per hour; the rest summarised.
    pub max_user_alarms_per_hour: u32,
    /// Sessions one user may open a minute (429 past it).
    pub max_session_opens_per_minute: u32,
    /// Sessions at another rate than the model's (each holds a resampler) open at once.
    pub max_resampled_sessions: usize,
    /// One user's share of them.
    pub max_resampled_sessions_per_user: usize,
}

impl MonitorLimits {
    /// The defaults, written once (the flags take theirs from here).
    pub const DEFAULT: Self = Self {
        max_monitor_sessions: 4096,
        max_monitor_sessions_per_user: 256,
        idle: Duration::from_secs(60),
        // 100 s at 173.61 Hz.
        max_monitor_push_samples: 17_361,
        max_monitor_sockets: 128,
        max_monitor_sockets_per_user: 16,
        monitor_replay_speed: 16,
        // A real seizure raises one alarm; 60 an hour is one a minute, beyond any real patient.
        max_session_alarms_per_hour: 60,
        max_user_alarms_per_hour: 600,
        max_session_opens_per_minute: 60,
        max_resampled_sessions: 256,
        max_resampled_sessions_per_user: 16,
    };
}

impl Default for MonitorLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A live session is paced at this many times real time: a device that fell behind (a
/// reconnection, a fast clock) catches up instead of staying behind for good.
pub const LIVE_CATCH_UP: f64 = 1.25;

/// Read chunk and write batching size of a monitoring socket.
pub const SOCKET_BUFFER_BYTES: usize = 4096;

/// Bytes of JSON text a push of `max_samples` may take (about 24 per sample:
/// `-1.2345678901234567e+03,`), within the HTTP body limit.
pub fn push_text_limit(max_samples: usize, max_body_bytes: usize) -> usize {
    (max_samples * 24 + 1024).min(max_body_bytes)
}
