//! What the service runs with, parsed once from its flags ([`crate::InferenceArgs::settings`]):
//! thresholds and bounds as checked types, durations as [`Duration`], the body caps as they
//! take effect, the key source, the revocation list and the production pointer resolved.
//! [`crate::build_state`] takes these and does not check them again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth_tokens::TokenAudience;
use http_kit::ServerLimits;
use nutype::nutype;
use seizure_model::{MaxAbsSample, Threshold};
use sql_pool::DatabaseSettings;
use stage_kit::RemoteSettings;

use crate::sessions::MonitorLimits;

/// Where the page logs in: the auth service's base URL as a browser reaches it.
pub type AuthUrl = http_kit::origin::WebUrl;

/// How access tokens are verified: the auth service's key set, or a file of public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// `AUTH_JWKS_URL`: fetched (and refreshed) from the auth service.
    Url(String),
    /// `AUTH_PUBLIC_KEY_FILE`: a JWKS document or a PEM public key, read on start.
    File(PathBuf),
}

/// The request-body caps as they take effect (`MAX_BODY_BYTES`, `MAX_BODY_BYTES_IN_FLIGHT`,
/// `MAX_BODY_BYTES_PER_USER`): http-kit's, which enforces them.
pub use http_kit::BodyCaps;

/// Prediction work in progress (`MAX_PREDICTIONS_PER_USER`, `MAX_PREDICTIONS_IN_PROGRESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCaps {
    pub per_user: usize,
    pub in_progress: usize,
}

/// The most of the fleet's drift window one user's windows may hold: a fraction in (0, 1].
#[nutype(
    validate(finite, greater = 0.0, less_or_equal = 1.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct UserShare(f64);

/// The fleet's drift window (`DRIFT_MAX_AGE_SECONDS`, `DRIFT_MAX_USER_SHARE`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftSettings {
    pub max_age: Duration,
    pub max_user_share: UserShare,
}

/// Everything the service runs with; [`crate::build_state`] takes it whole.
#[derive(Debug, Clone)]
pub struct InferenceSettings {
    pub listen: SocketAddr,
    /// The production release directory that evaluate's promotion installs.
    pub production_dir: PathBuf,
    /// The `.dvc` pointer naming the production version (with a remote).
    pub production_pointer: PathBuf,
    pub remote: RemoteSettings,
    pub patient_store: PathBuf,
    /// The prediction audit log.
    pub database: DatabaseSettings,
    pub audit_spill_file: PathBuf,
    /// How long shutdown waits for the audit log before spilling what is left.
    pub audit_shutdown_grace: Duration,
    pub keys: KeyLocation,
    /// The auth service's revocation list, if there is one to poll.
    pub revocations_url: Option<String>,
    pub revocation_poll: Duration,
    pub tokens: TokenAudience,
    /// Overrides the model card's window threshold.
    pub threshold: Option<Threshold>,
    /// Overrides the model card's patient threshold.
    pub patient_threshold: Option<Threshold>,
    /// Overrides the model card's bound on absolute raw sample values.
    pub max_abs_sample: Option<MaxAbsSample>,
    pub request_timeout: Duration,
    pub bodies: BodyCaps,
    /// The memory the service may use, if configured (else the container's limit).
    pub memory_limit_bytes: Option<u64>,
    pub admission: AdmissionCaps,
    /// How often each replica checks the production pointer (`None`: not watched).
    pub model_watch: Option<Duration>,
    /// How long the start waits for the production release.
    pub model_startup_fetch: Duration,
    /// Where the page at /ui/ logs in (`UI_AUTH_URL`).
    pub ui_auth: Option<AuthUrl>,
    pub drift: DriftSettings,
    /// Patients' raw recordings one user may read a minute.
    pub signal_reads_per_minute: u32,
    pub monitor: MonitorLimits,
    pub server: ServerLimits,
}

/// A flag whose value cannot be used; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{flag} must be between 0 and 1")]
    Threshold { flag: &'static str },
    #[error("MAX_ABS_SAMPLE must be a positive number within f32's range, not {0}")]
    MaxAbsSample(f64),
    #[error("DRIFT_MAX_USER_SHARE must be a fraction in (0, 1], not {0}")]
    UserShare(f64),
    #[error("UI_AUTH_URL {0}")]
    AuthUrl(String),
    #[error(
        "no way to verify access tokens: set AUTH_JWKS_URL to the auth service's \
         /.well-known/jwks.json, or AUTH_PUBLIC_KEY_FILE to its public key"
    )]
    NoKeys,
}

/// An operator's threshold override, named by its flag when refused.
pub fn threshold(
    flag: &'static str,
    value: Option<f64>,
) -> Result<Option<Threshold>, SettingsError> {
    value
        .map(|v| Threshold::try_new(v).map_err(|_| SettingsError::Threshold { flag }))
        .transpose()
}

/// The `MAX_ABS_SAMPLE` override.
pub fn max_abs_sample(value: Option<f64>) -> Result<Option<MaxAbsSample>, SettingsError> {
    value
        .map(|v| MaxAbsSample::try_new(v).map_err(|_| SettingsError::MaxAbsSample(v)))
        .transpose()
}

/// Checks `UI_AUTH_URL`.
pub fn auth_url(text: &str) -> Result<AuthUrl, SettingsError> {
    http_kit::origin::web_url(text).map_err(|e| SettingsError::AuthUrl(e.to_string()))
}

/// Where the revocation list is: configured, or beside the JWKS URL.
pub fn revocations_url(configured: Option<&str>, jwks_url: Option<&str>) -> Option<String> {
    configured.map(str::to_owned).or_else(|| {
        jwks_url
            .and_then(|url| url.strip_suffix("/.well-known/jwks.json"))
            .map(|base| format!("{base}/.well-known/revocations.json"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_outside_the_unit_interval_are_refused_by_their_flag() {
        for value in [-0.1, 1.000_001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = threshold("PATIENT_THRESHOLD", Some(value)).unwrap_err();
            assert_eq!(
                error.to_string(),
                "PATIENT_THRESHOLD must be between 0 and 1"
            );
        }
        for value in [0.0, 0.5, 1.0] {
            let parsed = threshold("PREDICTION_THRESHOLD", Some(value)).unwrap();
            assert_eq!(parsed.map(Threshold::into_inner), Some(value));
        }
        assert!(threshold("PREDICTION_THRESHOLD", None).unwrap().is_none());
    }

    #[test]
    fn a_sample_bound_must_be_positive_and_within_f32() {
        for value in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::from(f32::MAX) * 2.0,
        ] {
            let error = max_abs_sample(Some(value)).unwrap_err().to_string();
            assert!(
                error.starts_with("MAX_ABS_SAMPLE must be a positive number"),
                "{error}"
            );
        }
        for value in [f64::MIN_POSITIVE, 10_000.0, f64::from(f32::MAX)] {
            let parsed = max_abs_sample(Some(value)).unwrap();
            assert_eq!(parsed.map(MaxAbsSample::into_inner), Some(value));
        }
    }

    #[test]
    fn the_revocation_list_defaults_to_beside_the_key_set() {
        assert_eq!(
            revocations_url(None, Some("http://auth:8001/.well-known/jwks.json")).as_deref(),
            Some("http://auth:8001/.well-known/revocations.json")
        );
        assert_eq!(
            revocations_url(
                Some("http://x/r.json"),
                Some("http://auth:8001/.well-known/jwks.json")
            )
            .as_deref(),
            Some("http://x/r.json")
        );
        assert_eq!(revocations_url(None, Some("http://auth:8001/keys")), None);
        assert_eq!(revocations_url(None, None), None);
    }
}
