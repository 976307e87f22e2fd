//! What the service runs with, parsed once from its flags ([`crate::AuthArgs::settings`]): the
//! signing key's source, lifetimes and windows as [`Duration`]s, login limits that cannot be
//! zero, page origins checked, the first admin's password a secret. [`crate::build_state`]
//! takes these and does not check them again.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use auth_tokens::{SigningAlgorithm, TokenAudience};
use http_kit::origin::WebOrigin;
use http_kit::ServerLimits;
use secrecy::SecretString;
use sql_pool::DatabaseSettings;

/// Where the key that signs access tokens comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// `AUTH_SIGNING_KEY_FILE`: an RSA or Ed25519 PEM key.
    File(PathBuf),
    /// `--dev-ephemeral-key`: a random key that dies with the process (development only).
    Ephemeral(SigningAlgorithm),
}

/// The first admin's password as configured.
#[derive(Debug, Clone)]
pub enum AdminPassword {
    /// `ADMIN_PASSWORD` (or one `seizure-ops up` generated).
    Secret(SecretString),
    /// `ADMIN_PASSWORD_FILE` (a Docker secret), read on start.
    File(PathBuf),
}

/// The first admin, created on start if missing (`ADMIN_USERNAME`).
#[derive(Debug, Clone)]
pub struct FirstAdminSettings {
    pub username: String,
    /// None: not configured (the admin is created only with a password).
    pub password: Option<AdminPassword>,
}

/// What the HTTP layer applies to every request: token lifetimes, login throttling, the client
/// address, the page origins, the server's limits.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub refresh_lifetime: Duration,
    /// Failed logins allowed per (username, client address) within the window.
    pub max_failures: NonZeroU32,
    /// Failed logins allowed per client address, whatever the usernames (password spraying).
    pub max_failures_per_address: NonZeroU32,
    pub failure_window: Duration,
    /// After the second failure of a (username, address), the next attempt waits this long,
    /// doubling with every further failure (zero: no delay).
    pub backoff_base: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Page origins allowed to log in across origins (CORS on the token endpoints), each a
    /// checked `scheme://host[:port]`.
    pub browser_origins: Vec<WebOrigin>,
    pub limits: ServerLimits,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub listen: SocketAddr,
    /// The users' database.
    pub database: DatabaseSettings,
    pub signing_key: SigningKeySource,
    /// Earlier signing keys, still published so their tokens verify until they expire.
    pub previous_key_files: Vec<PathBuf>,
    pub tokens: TokenAudience,
    pub access_token_lifetime: Duration,
    pub first_admin: Option<FirstAdminSettings>,
    pub api: ApiSettings,
}

/// A flag whose value cannot be used; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no signing key: set AUTH_SIGNING_KEY_FILE to an RSA or Ed25519 PEM key \
         (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem), \
         or pass --dev-ephemeral-key"
    )]
    NoSigningKey,
    #[error("CORS_ALLOWED_ORIGINS {0}")]
    Origin(String),
    #[error("{flag} must be at least 1")]
    Zero { flag: &'static str },
}

/// The page origins of `CORS_ALLOWED_ORIGINS`, each checked.
pub fn browser_origins(texts: &[String]) -> Result<Vec<WebOrigin>, SettingsError> {
    texts
        .iter()
        .map(|o| http_kit::origin::web_origin(o.trim()))
        .collect::<Result<_, _>>()
        .map_err(|e| SettingsError::Origin(e.to_string()))
}

/// A count that cannot be zero, named by its flag when it is.
pub fn at_least_one(flag: &'static str, value: u32) -> Result<NonZeroU32, SettingsError> {
    NonZeroU32::new(value).ok_or(SettingsError::Zero { flag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_trimmed() {
        let parsed = browser_origins(&[" http://127.0.0.1:8002 ".into()]).unwrap();
        assert_eq!(parsed[0].as_str(), "http://127.0.0.1:8002");
        assert_eq!(parsed.len(), 1);
        for bad in ["*", "http://host;x", "http://host/path", "javascript:x", ""] {
            let error = browser_origins(&[bad.into()]).unwrap_err().to_string();
            assert!(error.starts_with("CORS_ALLOWED_ORIGINS"), "{bad}: {error}");
        }
        assert!(browser_origins(&[]).unwrap().is_empty());
    }

    #[test]
    fn zero_limits_are_refused_by_their_flag() {
        let error = at_least_one("LOGIN_MAX_FAILURES", 0).unwrap_err();
        assert_eq!(error.to_string(), "LOGIN_MAX_FAILURES must be at least 1");
        assert_eq!(at_least_one("LOGIN_MAX_FAILURES", 5).unwrap().get(), 5);
    }
}
