//! The service's command line: flags with environment fallbacks, parsed into
//! [`InferenceSettings`] once ([`InferenceArgs::settings`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser};
use service_flags::RemoteArgs;

use crate::fleet_drift;
use crate::sessions::MonitorLimits;
use crate::settings::{
    self, AdmissionCaps, BodyCaps, DriftSettings, InferenceSettings, KeyLocation, SettingsError,
    UserShare,
};

/// Where the inference service listens unless configured (`INFERENCE_LISTEN`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8002";
/// The prediction audit log unless configured (`DATABASE_URL`): a SQLite file.
pub const DEFAULT_DATABASE_FILE: &str = "predictions.db";

/// Request bodies in memory, all requests together, by default (`MAX_BODY_BYTES_IN_FLIGHT`).
pub const DEFAULT_BODY_BYTES_IN_FLIGHT: usize = 24 * 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "inference",
    version,
    about = "The seizure-ops inference service"
)]
pub struct Cli {
    #[command(flatten)]
    pub args: InferenceArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct InferenceArgs {
    /// Address to listen on.
    #[arg(long, env = "INFERENCE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The production release directory that evaluate's promotion installs.
    #[arg(long, env = "PRODUCTION_DIR", default_value = "production")]
    pub production_dir: PathBuf,
    /// With a DVC remote: the `.dvc` pointer naming the production version to pull into
    /// `--production-dir` on start and on every reload (default: `<production-dir>.dvc`).
    #[arg(long, env = "PRODUCTION_POINTER")]
    pub production_pointer: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The patient store that patient-pull writes.
    #[arg(long, env = "PATIENT_STORE", default_value = "patients/store")]
    pub patient_store: PathBuf,
    /// The prediction audit log (default: the SQLite file `predictions.db`).
    #[command(flatten)]
    pub database: service_flags::DatabaseArgs,
    /// The auth service's key set, e.g. http://auth:8001/.well-known/jwks.json.
    #[arg(long, env = "AUTH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Or a file with the public key(s): a JWKS document or a PEM public key.
    #[arg(long, env = "AUTH_PUBLIC_KEY_FILE", conflicts_with = "jwks_url")]
    pub public_key_file: Option<PathBuf>,
    /// The auth service's access-token revocation list, polled so that logout, a revoked
    /// session and a deleted user stop working here within seconds (default: beside
    /// AUTH_JWKS_URL, `/.well-known/revocations.json`).
    #[arg(long, env = "AUTH_REVOCATIONS_URL")]
    pub revocations_url: Option<String>,
    /// How often the revocation list is polled.
    #[arg(long, env = "REVOCATION_POLL_SECONDS", default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub revocation_poll_seconds: u64,
    #[command(flatten)]
    pub tokens: service_flags::TokenArgs,
    /// Overrides the served model's window threshold (each recording's call: the one training
    /// chose out of fold, or on validation in an earlier card, stored in its card). Every
    /// answer says which is in force (`threshold_source`).
    #[arg(long, env = "PREDICTION_THRESHOLD")]
    pub threshold: Option<f64>,
    /// Overrides the served model's patient threshold (the patient decision training chose
    /// out of fold; in an earlier card, the window threshold on the mean). Answers say so
    /// (`patient_threshold_source`).
    #[arg(long, env = "PATIENT_THRESHOLD")]
    pub patient_threshold: Option<f64>,
    /// Requests running longer are answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout_seconds: u64,
    /// Largest request body accepted (bytes); 1,000 recordings of JSON numbers fit in 8 MiB.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024,
        value_parser = RangedU64ValueParser::<usize>::new().range(1024..=1 << 30))]
    pub max_body_bytes: usize,
    /// Request bodies in memory, all requests together (bytes, counted as they arrive and
    /// held until the answer is ready): past it a request is answered 503 (docs/hardening.md,
    /// "Memory budget"). Never below MAX_BODY_BYTES.
    #[arg(long, env = "MAX_BODY_BYTES_IN_FLIGHT", default_value_t = DEFAULT_BODY_BYTES_IN_FLIGHT,
        value_parser = RangedU64ValueParser::<usize>::new().range(1024..=1 << 34))]
    pub max_body_bytes_in_flight: usize,
    /// One user's request bodies in memory together (bytes; default MAX_BODY_BYTES, one
    /// largest body): past it their request is answered 429, so one user cannot spend the
    /// budget of all. Between MAX_BODY_BYTES and MAX_BODY_BYTES_IN_FLIGHT.
    #[arg(long, env = "MAX_BODY_BYTES_PER_USER")]
    pub max_body_bytes_per_user: Option<usize>,
    /// The memory the service may use (bytes): at start the caps' worst case
    /// (docs/hardening.md, "Memory budget") must fit in it, or the service refuses to start.
    /// Default: the container's limit (cgroup `memory.max`), none outside a container.
    #[arg(long, env = "MEMORY_LIMIT_BYTES")]
    pub memory_limit_bytes: Option<u64>,
    /// Print the memory the caps may need, part by part, and exit: non-zero when it exceeds
    /// the memory limit. Connects to nothing (scripts/k8s-validate.sh runs it per overlay).
    #[arg(long)]
    pub check_footprint: bool,
    /// Overrides the model card's bound on absolute raw sample values (`input.max_abs_sample`,
    /// 10,000 unless the training run set another): larger values are refused with 422.
    #[arg(long, env = "MAX_ABS_SAMPLE")]
    pub max_abs_sample: Option<f64>,
    /// Where audit records go that the database cannot take in time (a database outage, a
    /// shutdown flush that runs out of time); written back to the database automatically.
    #[arg(
        long,
        env = "AUDIT_SPILL_FILE",
        default_value = "predictions.spill.jsonl"
    )]
    pub audit_spill_file: PathBuf,
    /// Predictions one user may have in progress at once; more are answered 429.
    #[arg(long, env = "MAX_PREDICTIONS_PER_USER", default_value_t = 4,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_predictions_per_user: usize,
    /// Predictions in progress at once, all users together; more are answered 503.
    #[arg(long, env = "MAX_PREDICTIONS_IN_PROGRESS", default_value_t = 64,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_predictions_in_progress: usize,
    /// How long shutdown waits for the audit log to reach the database before spilling.
    #[arg(long, env = "AUDIT_SHUTDOWN_GRACE_SECONDS", default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(0..=300))]
    pub audit_shutdown_grace_seconds: u64,
    /// How often (seconds) this replica checks the production pointer and reloads itself when
    /// it names another release, so every replica converges after a promotion; 0 turns it off.
    #[arg(long, env = "MODEL_WATCH_SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub model_watch_seconds: u64,
    /// How long the start waits for the production release (keep it under the startup
    /// probe's allowance, 120 s in deploy/k8s): past it, or when the object store hangs, the
    /// service starts not ready and its pointer watch (or POST /reload-model) fetches it later.
    #[arg(long, env = "MODEL_STARTUP_FETCH_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub model_startup_fetch_seconds: u64,
    /// The auth service's base URL as a browser reaches it (e.g. http://127.0.0.1:8001): the
    /// page at /ui/ logs in there. Unset, the page asks for an access token instead.
    #[arg(long, env = "UI_AUTH_URL")]
    pub ui_auth_url: Option<String>,
    /// Scored windows older than this (seconds) leave the fleet's drift window: the drift
    /// gauges describe recent input, and read not ready when too little of it came.
    #[arg(long, env = "DRIFT_MAX_AGE_SECONDS", default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(60..=7 * 24 * 3600))]
    pub drift_max_age_seconds: u64,
    /// The most of the fleet's drift window one user's windows may hold (a fraction, 0 to
    /// 1): past it their own oldest make way, so one user (one request) moves the drift and
    /// seizure-rate gauges by this share at most. The window is ready only once that many
    /// users' input fills it (1/share users at least); 1 turns the limit off (a single
    /// feeder, e.g. one ward gateway account).
    #[arg(long, env = "DRIFT_MAX_USER_SHARE", default_value_t = fleet_drift::DEFAULT_SHARE, value_parser = share_fraction)]
    pub drift_max_user_share: f64,
    /// Patients' raw recordings (`GET /patients/{id}/recordings`) one user may read a
    /// minute, all at once at most; more are answered 429. Each read is audited.
    #[arg(long, env = "SIGNAL_READS_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub signal_reads_per_minute: u32,
    #[command(flatten)]
    pub monitor: MonitorFlags,
    #[command(flatten)]
    pub server: service_flags::ServerArgs,
}

const MONITOR: MonitorLimits = MonitorLimits::DEFAULT;

/// The flags for [`MonitorLimits`] (defaults and bounds from there; a test checks that the
/// flags' defaults give exactly `MonitorLimits::DEFAULT`).
#[derive(Debug, Clone, Args)]
pub struct MonitorFlags {
    /// Monitoring sessions open at once, all users together; more are refused (503).
    #[arg(long, env = "MAX_MONITOR_SESSIONS", default_value_t = MONITOR.max_monitor_sessions, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sessions: usize,
    /// Monitoring sessions one user may have open; more are refused (429).
    #[arg(long, env = "MAX_MONITOR_SESSIONS_PER_USER", default_value_t = MONITOR.max_monitor_sessions_per_user, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sessions_per_user: usize,
    /// A session without a push for this long (seconds) is closed (its end is logged).
    #[arg(long, env = "MONITOR_IDLE_SECONDS", default_value_t = MONITOR.idle.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub monitor_idle_seconds: u64,
    /// Most samples one push may carry (17,361 = 100 s at 173.61 Hz); more are refused (413).
    #[arg(long, env = "MAX_MONITOR_PUSH_SAMPLES", default_value_t = MONITOR.max_monitor_push_samples, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_push_samples: usize,
    /// Monitoring WebSockets open at once, all users together (counted from the handshake
    /// until the socket is closed); more are refused (503).
    #[arg(long, env = "MAX_MONITOR_SOCKETS", default_value_t = MONITOR.max_monitor_sockets, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sockets: usize,
    /// Monitoring WebSockets one user may have open; more are refused (429).
    #[arg(long, env = "MAX_MONITOR_SOCKETS_PER_USER", default_value_t = MONITOR.max_monitor_sockets_per_user, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_monitor_sockets_per_user: usize,
    /// How fast a `replay` session may stream, in times real time (a live session: real
    /// time); both may run one push ahead of the clock (MAX_MONITOR_PUSH_SAMPLES).
    #[arg(long, env = "MONITOR_REPLAY_SPEED", default_value_t = MONITOR.monitor_replay_speed, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub monitor_replay_speed: u32,
    /// Alarms of one session written to the audit log per hour, one row each; more are
    /// counted in the user's summary.
    #[arg(long, env = "MAX_SESSION_ALARMS_PER_HOUR", default_value_t = MONITOR.max_session_alarms_per_hour, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_session_alarms_per_hour: u32,
    /// Alarms of one user's sessions together written one row each per hour; the rest are
    /// summarised in one record a user when the hour ends: the audit log's growth per user
    /// is bounded.
    #[arg(long, env = "MAX_USER_ALARMS_PER_HOUR", default_value_t = MONITOR.max_user_alarms_per_hour, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_user_alarms_per_hour: u32,
    /// Monitoring sessions (HTTP or WebSocket) one user may open a minute; more are
    /// answered 429. Each new session may run one push ahead of the clock, so this bounds
    /// how far ahead a user can get by opening sessions.
    #[arg(long, env = "MAX_SESSION_OPENS_PER_MINUTE", default_value_t = MONITOR.max_session_opens_per_minute, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_session_opens_per_minute: u32,
    /// Sessions at another rate than the model's open at once, all users together: each
    /// holds a resampler (`bedside::conditioning::CONDITIONER_BYTES`); more are refused (503).
    #[arg(long, env = "MAX_RESAMPLED_SESSIONS", default_value_t = MONITOR.max_resampled_sessions, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub max_resampled_sessions: usize,
    /// One user's share of them (more are answered 429).
    #[arg(long, env = "MAX_RESAMPLED_SESSIONS_PER_USER", default_value_t = MONITOR.max_resampled_sessions_per_user, value_parser = RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub max_resampled_sessions_per_user: usize,
}

impl Default for MonitorFlags {
    fn default() -> Self {
        Self {
            max_monitor_sessions: MONITOR.max_monitor_sessions,
            max_monitor_sessions_per_user: MONITOR.max_monitor_sessions_per_user,
            monitor_idle_seconds: MONITOR.idle.as_secs(),
            max_monitor_push_samples: MONITOR.max_monitor_push_samples,
            max_monitor_sockets: MONITOR.max_monitor_sockets,
            max_monitor_sockets_per_user: MONITOR.max_monitor_sockets_per_user,
            monitor_replay_speed: MONITOR.monitor_replay_speed,
            max_session_alarms_per_hour: MONITOR.max_session_alarms_per_hour,
            max_user_alarms_per_hour: MONITOR.max_user_alarms_per_hour,
            max_session_opens_per_minute: MONITOR.max_session_opens_per_minute,
            max_resampled_sessions: MONITOR.max_resampled_sessions,
            max_resampled_sessions_per_user: MONITOR.max_resampled_sessions_per_user,
        }
    }
}

impl MonitorFlags {
    pub fn limits(&self) -> MonitorLimits {
        MonitorLimits {
            max_monitor_sessions: self.max_monitor_sessions,
            max_monitor_sessions_per_user: self.max_monitor_sessions_per_user,
            idle: std::time::Duration::from_secs(self.monitor_idle_seconds),
            max_monitor_push_samples: self.max_monitor_push_samples,
            max_monitor_sockets: self.max_monitor_sockets,
            max_monitor_sockets_per_user: self.max_monitor_sockets_per_user,
            monitor_replay_speed: self.monitor_replay_speed,
            max_session_alarms_per_hour: self.max_session_alarms_per_hour,
            max_user_alarms_per_hour: self.max_user_alarms_per_hour,
            max_session_opens_per_minute: self.max_session_opens_per_minute,
            max_resampled_sessions: self.max_resampled_sessions,
            max_resampled_sessions_per_user: self.max_resampled_sessions_per_user,
        }
    }
}

/// `DRIFT_MAX_USER_SHARE` refused as the flag is parsed, by the settings' own type.
fn share_fraction(text: &str) -> Result<f64, String> {
    let share: f64 = text.parse().map_err(|e| format!("{e}"))?;
    UserShare::try_new(share)
        .map(UserShare::into_inner)
        .map_err(|_| format!("a fraction in (0, 1], not {text}"))
}

impl InferenceArgs {
    /// The request-body caps as they take effect.
    pub fn body_caps(&self) -> BodyCaps {
        BodyCaps::new(
            self.max_body_bytes,
            self.max_body_bytes_in_flight,
            self.max_body_bytes_per_user,
        )
    }

    /// The settings these flags give, each checked once: a value that cannot be used is
    /// refused naming its flag, before anything is opened or fetched.
    pub fn settings(&self) -> Result<InferenceSettings, SettingsError> {
        let keys = match (&self.jwks_url, &self.public_key_file) {
            (Some(url), _) => KeyLocation::Url(url.clone()),
            (None, Some(path)) => KeyLocation::File(path.clone()),
            (None, None) => return Err(SettingsError::NoKeys),
        };
        Ok(InferenceSettings {
            listen: self.listen,
            production_dir: self.production_dir.clone(),
            production_pointer: self
                .production_pointer
                .clone()
                .unwrap_or_else(|| artifact_store::dvc::pointer_path(&self.production_dir)),
            remote: self.remote.settings(),
            patient_store: self.patient_store.clone(),
            database: self.database.settings(DEFAULT_DATABASE_FILE),
            audit_spill_file: self.audit_spill_file.clone(),
            audit_shutdown_grace: Duration::from_secs(self.audit_shutdown_grace_seconds),
            keys,
            revocations_url: settings::revocations_url(
                self.revocations_url.as_deref(),
                self.jwks_url.as_deref(),
            ),
            revocation_poll: Duration::from_secs(self.revocation_poll_seconds.max(1)),
            tokens: self.tokens.audience(),
            threshold: settings::threshold("PREDICTION_THRESHOLD", self.threshold)?,
            patient_threshold: settings::threshold("PATIENT_THRESHOLD", self.patient_threshold)?,
            max_abs_sample: settings::max_abs_sample(self.max_abs_sample)?,
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            bodies: self.body_caps(),
            memory_limit_bytes: self.memory_limit_bytes,
            admission: AdmissionCaps {
                per_user: self.max_predictions_per_user,
                in_progress: self.max_predictions_in_progress,
            },
            model_watch: (self.model_watch_seconds > 0)
                .then(|| Duration::from_secs(self.model_watch_seconds)),
            model_startup_fetch: Duration::from_secs(self.model_startup_fetch_seconds),
            ui_auth: self
                .ui_auth_url
                .as_deref()
                .map(settings::auth_url)
                .transpose()?,
            drift: DriftSettings {
                max_age: Duration::from_secs(self.drift_max_age_seconds),
                max_user_share: UserShare::try_new(self.drift_max_user_share)
                    .map_err(|_| SettingsError::UserShare(self.drift_max_user_share))?,
            },
            signal_reads_per_minute: self.signal_reads_per_minute,
            monitor: self.monitor.limits(),
            server: self.server.limits(),
        })
    }
}

#[cfg(test)]
mod tests {
    use seizure_model::{MaxAbsSample, Threshold};

    use super::*;

    #[test]
    fn the_monitor_flags_default_to_the_limits_defaults() {
        assert_eq!(MonitorFlags::default().limits(), MonitorLimits::DEFAULT);
        let parsed: InferenceArgs = service_flags::defaults();
        assert_eq!(parsed.monitor.limits(), MonitorLimits::DEFAULT);
    }

    /// The settings of `flags` with a key file, the shell's environment ignored.
    fn settings_of(flags: &[&str]) -> Result<InferenceSettings, SettingsError> {
        let mut argv = vec!["--public-key-file=auth-public.json"];
        argv.extend(flags);
        service_flags::parse_without_env::<InferenceArgs>(&argv)
            .unwrap()
            .settings()
    }

    #[test]
    fn values_that_cannot_be_used_are_refused_naming_their_flag() {
        for (flag, expected) in [
            (
                "--threshold=1.5",
                "PREDICTION_THRESHOLD must be between 0 and 1",
            ),
            (
                "--threshold=NaN",
                "PREDICTION_THRESHOLD must be between 0 and 1",
            ),
            (
                "--patient-threshold=-0.01",
                "PATIENT_THRESHOLD must be between 0 and 1",
            ),
            (
                "--patient-threshold=inf",
                "PATIENT_THRESHOLD must be between 0 and 1",
            ),
            (
                "--max-abs-sample=0",
                "MAX_ABS_SAMPLE must be a positive number within f32's range, not 0",
            ),
            (
                "--max-abs-sample=1e39",
                "MAX_ABS_SAMPLE must be a positive number within f32's range, not 1000000000000000000000000000000000000000",
            ),
            ("--ui-auth-url=javascript:alert(1)", "UI_AUTH_URL"),
        ] {
            let error = settings_of(&[flag]).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{flag}: {error}");
        }
        // The flag's own parser refuses a share outside (0, 1]; arguments built in code are
        // refused by the settings.
        assert!(
            service_flags::parse_without_env::<InferenceArgs>(&["--drift-max-user-share=0"])
                .is_err()
        );
        let mut args: InferenceArgs =
            service_flags::parse_without_env(&["--public-key-file=k.json"]).unwrap();
        for share in [0.0, -0.5, 1.5, f64::NAN] {
            args.drift_max_user_share = share;
            let error = args.settings().unwrap_err().to_string();
            assert!(
                error.starts_with("DRIFT_MAX_USER_SHARE must be a fraction in (0, 1]"),
                "{error}"
            );
        }
        let error = service_flags::defaults::<InferenceArgs>()
            .settings()
            .unwrap_err();
        assert!(error.to_string().contains("AUTH_JWKS_URL"), "{error}");
    }

    #[test]
    fn the_settings_carry_what_the_flags_say() {
        let settings = settings_of(&[
            "--threshold=0.25",
            "--patient-threshold=0.75",
            "--max-abs-sample=5000",
            "--model-watch-seconds=0",
            "--max-body-bytes-per-user=1",
        ])
        .unwrap();
        assert_eq!(settings.threshold.map(Threshold::into_inner), Some(0.25));
        assert_eq!(
            settings.patient_threshold.map(Threshold::into_inner),
            Some(0.75)
        );
        assert_eq!(
            settings.max_abs_sample.map(MaxAbsSample::into_inner),
            Some(5000.0)
        );
        assert_eq!(settings.model_watch, None);
        // A share below one largest body is raised to it.
        assert_eq!(settings.bodies.per_user, settings.bodies.max_body_bytes);
        assert_eq!(settings.keys, KeyLocation::File("auth-public.json".into()));
        assert_eq!(settings.production_pointer, PathBuf::from("production.dvc"));
        assert_eq!(settings.revocations_url, None);
        let fetched = service_flags::parse_without_env::<InferenceArgs>(&[
            "--jwks-url=http://auth:8001/.well-known/jwks.json",
        ])
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(
            fetched.keys,
            KeyLocation::Url("http://auth:8001/.well-known/jwks.json".into())
        );
        assert_eq!(
            fetched.revocations_url.as_deref(),
            Some("http://auth:8001/.well-known/revocations.json")
        );
        assert_eq!(fetched.monitor, MonitorLimits::DEFAULT);
    }

    #[test]
    fn monitor_flags_out_of_range_are_refused() {
        for (flag, value) in [
            ("--max-monitor-sessions", "0"),
            ("--monitor-idle-seconds", "0"),
            ("--monitor-idle-seconds", "86401"),
            ("--monitor-replay-speed", "65"),
            ("--max-monitor-push-samples", "-1"),
            ("--max-monitor-sockets", "1000001"),
            ("--request-timeout-seconds", "0"),
            ("--request-timeout-seconds", "18446744073709551615"),
            ("--revocation-poll-seconds", "0"),
            ("--max-body-bytes", "0"),
            ("--max-predictions-per-user", "0"),
            ("--model-watch-seconds", "-1"),
        ] {
            assert!(
                service_flags::refuses::<InferenceArgs>(flag, value),
                "{flag}={value}"
            );
        }
    }
}
