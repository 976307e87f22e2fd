//! The memory the service can need when every cap is reached at once, part by part, and the
//! check at start that it fits the memory the service may use (the container's limit).
//! docs/hardening.md ("Memory budget") states the arithmetic; the figures per item are
//! measured by `tests/pipeline/tests/monitor_memory.rs` (which fails if they are exceeded),
//! and `scripts/k8s-validate.sh` checks every overlay's caps against its memory limit with
//! `seizure-ops inference --check-footprint`.

use std::fmt;

use anyhow::bail;

use crate::config::InferenceArgs;
use crate::sessions::MonitorLimits;
use crate::settings::{BodyCaps, InferenceSettings};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Resident with a model and a patient store loaded, before any request (measured 20-30 MiB
/// here; docs/benchmarks.md: 21 MiB at 1,200 patients/s), with room for scoring batches.
pub const BASE_BYTES: u64 = 64 * MIB;
/// One open monitoring session: its monitor (at most one window of samples, the alarm
/// rule's state) and registry entry.
pub const SESSION_BYTES: u64 = 16 * KIB;
/// One open monitoring socket between messages: 4 KiB read and write buffers, the
/// WebSocket state and its task.
pub const SOCKET_BYTES: u64 = 48 * KIB;
/// One open HTTP connection between requests: hyper's buffers and the connection's task.
pub const CONNECTION_BYTES: u64 = 32 * KIB;
/// A JSON body or message in flight, parsed: the text itself plus what it parses to. The
/// shortest number is one digit and a comma (2 bytes) and becomes an f64 (8 bytes), so the
/// parsed form is at most 4 times the text: 5 times in all.
pub const PARSE_FACTOR: u64 = 5;

/// The worst case at the caps, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub base: u64,
    pub sessions: u64,
    /// The resamplers of sessions at another rate than the model's.
    pub resamplers: u64,
    pub sockets: u64,
    pub connections: u64,
    pub bodies: u64,
}

impl Footprint {
    /// At the monitoring caps, the body caps and `max_connections` HTTP connections.
    pub fn at_caps(monitor: &MonitorLimits, bodies: &BodyCaps, max_connections: usize) -> Self {
        // A socket may hold one message of the largest push on top of its buffers: the frame
        // as received and the message made of it (twice the text); the samples parsed from
        // it (the text's commas are checked first: at most the limit, 8 bytes each, in a
        // vector grown by doubling); and an answer as large waiting in its write buffer (a
        // client that stops reading).
        let text = crate::sessions::push_text_limit(
            monitor.max_monitor_push_samples,
            bodies.max_body_bytes,
        ) as u64;
        let samples = (monitor.max_monitor_push_samples as u64 + 9).next_power_of_two() * 8;
        let write_buffer = text + crate::sessions::SOCKET_BUFFER_BYTES as u64;
        let message = 2 * text + samples + write_buffer;
        let body_budget = bodies.in_flight as u64;
        Self {
            base: BASE_BYTES,
            sessions: monitor.max_monitor_sessions as u64 * SESSION_BYTES,
            resamplers: monitor
                .max_resampled_sessions
                .min(monitor.max_monitor_sessions) as u64
                * bedside::conditioning::CONDITIONER_BYTES,
            sockets: monitor.max_monitor_sockets as u64 * (SOCKET_BYTES + message),
            connections: max_connections as u64 * CONNECTION_BYTES,
            bodies: PARSE_FACTOR * body_budget,
        }
    }

    /// At the caps the settings give.
    pub fn of(settings: &InferenceSettings) -> Self {
        Self::at_caps(
            &settings.monitor,
            &settings.bodies,
            settings.server.max_connections,
        )
    }

    /// At the caps the flags give, without the rest of the settings (`--check-footprint`
    /// needs no key source).
    pub fn of_flags(args: &InferenceArgs) -> Self {
        Self::at_caps(
            &args.monitor.limits(),
            &args.body_caps(),
            args.server.max_connections,
        )
    }

    pub fn total(&self) -> u64 {
        self.base + self.sessions + self.resamplers + self.sockets + self.connections + self.bodies
    }
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |bytes: u64| bytes as f64 / MIB as f64;
        write!(
            f,
            "{:.0} MiB = base {:.0} + sessions {:.0} (MAX_MONITOR_SESSIONS) + resamplers {:.0} \
             (MAX_RESAMPLED_SESSIONS) + sockets {:.0} (MAX_MONITOR_SOCKETS) + connections {:.0} \
             (MAX_CONNECTIONS) + bodies {:.0} (MAX_BODY_BYTES_IN_FLIGHT)",
            mib(self.total()),
            mib(self.base),
            mib(self.sessions),
            mib(self.resamplers),
            mib(self.sockets),
            mib(self.connections),
            mib(self.bodies)
        )
    }
}

/// The container's memory limit (cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`),
/// if it has one.
pub fn container_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .filter_map(|text| text.trim().parse::<u64>().ok())
    // cgroup v1 writes "no limit" as a number near 2^63.
    .find(|&limit| limit < 1 << 50)
}

/// Refuses to start when the caps' worst case does not fit the memory limit
/// (`MEMORY_LIMIT_BYTES`, else the container's).
pub fn check(footprint: Footprint, memory_limit_bytes: Option<u64>) -> anyhow::Result<Footprint> {
    let limit = memory_limit_bytes.or_else(container_limit);
    match limit {
        Some(limit) if footprint.total() > limit => bail!(
            "the caps need up to {footprint}, more than the memory limit of {} MiB: lower \
             them (docs/hardening.md, \"Memory budget\") or raise the limit",
            limit / MIB
        ),
        Some(limit) => tracing::info!(
            "memory at the caps: {footprint}, within the limit of {} MiB",
            limit / MIB
        ),
        None => tracing::info!("memory at the caps: {footprint} (no memory limit set)"),
    }
    Ok(footprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(edit: impl FnOnce(&mut InferenceArgs)) -> InferenceArgs {
        let mut args: InferenceArgs = service_flags::defaults();
        edit(&mut args);
        args
    }

    fn at_caps(args: InferenceArgs) -> Footprint {
        Footprint::of_flags(&args)
    }

    fn check(args: InferenceArgs) -> anyhow::Result<Footprint> {
        super::check(Footprint::of_flags(&args), args.memory_limit_bytes)
    }

    /// The defaults fit the base manifest's 512 Mi; the dev overlay's caps its 256 Mi
    /// (scripts/k8s-validate.sh checks the manifests themselves).
    #[test]
    fn the_default_caps_fit_the_manifests_limits() {
        let defaults = at_caps(args(|_| {}));
        assert!(defaults.total() <= 512 * MIB, "{defaults}");
        // The table in docs/hardening.md, "Memory budget".
        let mib = |bytes: u64| (bytes + MIB / 2) / MIB;
        assert_eq!(mib(defaults.total()), 487, "{defaults}");
        assert_eq!(mib(defaults.resamplers), 16, "{defaults}");
        assert_eq!(mib(defaults.sockets), 191, "{defaults}");
        let dev = at_caps(args(|a| {
            a.monitor.max_monitor_sessions = 1024;
            a.monitor.max_monitor_sockets = 32;
            a.server.max_connections = 256;
            a.max_body_bytes_in_flight = 16 << 20;
        }));
        assert!(dev.total() <= 256 * MIB, "{dev}");
        assert_eq!(mib(dev.total()), 232, "{dev}");
        // One more socket costs at least a largest message (not only its buffers).
        let more = at_caps(args(|a| a.monitor.max_monitor_sockets += 1));
        assert!(more.sockets - defaults.sockets > 1_500_000);
    }

    #[test]
    fn caps_over_the_limit_refuse_to_start_saying_which() {
        let error = check(args(|a| a.memory_limit_bytes = Some(256 * MIB)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("MAX_MONITOR_SOCKETS"), "{error}");
        assert!(check(args(|a| a.memory_limit_bytes = Some(1 << 30))).is_ok());
    }
}
