//! What a session says about itself: why it ended (the WebSocket close code and reason), and
//! its status, kept beside it so that reading it never waits for a push.

use super::Session;

/// Why a session ended. A WebSocket carrying the session closes at once with this close
/// code and reason, whichever side ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A close frame or a dropped connection.
    ClientGone,
    /// `{"type": "close"}` on the socket.
    ClientAsked,
    /// `DELETE /monitor/sessions/{id}`.
    Deleted,
    /// No push for `MONITOR_IDLE_SECONDS`.
    Idle,
    /// The access token the socket was opened with expired or was revoked.
    Token,
    /// The service is shutting down.
    Shutdown,
    /// A message over the size limit (close code 1009).
    TooBig,
}

impl End {
    pub fn reason(self) -> &'static str {
        match self {
            End::ClientGone => "closed by the client",
            End::ClientAsked => "closed at the client's request",
            End::Deleted => "the session was closed with DELETE /monitor/sessions/{id}",
            End::Idle => "idle timeout",
            End::Token => "the access token expired or was revoked; reconnect with a fresh one",
            End::Shutdown => "the service is shutting down",
            End::TooBig => "message too big: a message holds at most one push",
        }
    }

    /// The WebSocket close code (RFC 6455, 7.4.1).
    pub fn close_code(self) -> u16 {
        match self {
            End::TooBig => 1009,
            _ => 1000,
        }
    }

    /// `monitor_sessions_closed_total{end}`.
    pub fn label(self) -> &'static str {
        match self {
            End::Idle => "idle",
            End::Token => "token",
            End::Shutdown => "shutdown",
            End::TooBig => "too_big",
            End::ClientGone | End::ClientAsked | End::Deleted => "client",
        }
    }
}

/// What a session's status answers, kept beside the session so that reading it never waits
/// for a push (the session itself is locked for the whole of one).
#[derive(Debug, Clone)]
pub struct Status {
    pub model_version: String,
    pub threshold_source: String,
    pub config: bedside::MonitorConfig,
    pub samples_seen: u64,
    pub in_seizure: bool,
    pub alarms: u64,
    pub replay: bool,
    pub max_samples_per_second: f64,
    pub input_sampling_hz: f64,
    pub mains_notch_hz: Option<f64>,
}

impl Status {
    pub(super) fn of(session: &Session) -> Self {
        Self {
            model_version: session.model_version.clone(),
            threshold_source: session.threshold_source.clone(),
            config: *session.monitor.config(),
            samples_seen: session.input_seen,
            in_seizure: session.monitor.in_seizure(),
            alarms: session.alarms,
            replay: session.replay,
            max_samples_per_second: session.pace.rate(),
            input_sampling_hz: session
                .conditioner
                .as_ref()
                .map_or(eeg_data::SAMPLING_HZ, |c| c.input_hz()),
            mains_notch_hz: session
                .conditioner
                .as_ref()
                .and_then(|c| c.mains_notch_hz()),
        }
    }
}
