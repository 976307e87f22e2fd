//! The service's command line: flags with environment fallbacks, parsed into
//! [`AuthSettings`] once ([`AuthArgs::settings`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth_tokens::SigningAlgorithm;
use clap::{Args, Parser};
use secrecy::SecretString;

use crate::settings::{
    self, AdminPassword, ApiSettings, AuthSettings, FirstAdminSettings, SettingsError,
    SigningKeySource,
};

#[derive(Debug, Parser)]
#[command(name = "auth", version, about = "The seizure-ops auth service")]
pub struct Cli {
    #[command(flatten)]
    pub args: AuthArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

/// Where the auth service listens unless configured (`AUTH_LISTEN`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8001";
/// The users' database unless configured (`DATABASE_URL`): a SQLite file.
pub const DEFAULT_DATABASE_FILE: &str = "auth.db";
/// The first admin's username when `seizure-ops up` creates one (`ADMIN_USERNAME`).
pub const DEFAULT_ADMIN_USERNAME: &str = "admin";

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTH_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The users' database (default: the SQLite file `auth.db`).
    #[command(flatten)]
    pub database: service_flags::DatabaseArgs,
    /// The private key that signs access tokens: RSA (2048 bits or more, RS256) or Ed25519
    /// (EdDSA), PEM (PKCS#8, or PKCS#1 for RSA). The key type decides the algorithm.
    #[arg(long, env = "AUTH_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Earlier signing keys, still published so their tokens verify until they expire.
    #[arg(long, env = "AUTH_PREVIOUS_KEY_FILES", value_delimiter = ',')]
    pub previous_key_files: Vec<PathBuf>,
    /// Development only: sign with a random key that dies with the process.
    #[arg(long)]
    pub dev_ephemeral_key: bool,
    /// The algorithm of the ephemeral development key.
    #[arg(long, default_value = "RS256")]
    pub dev_key_algorithm: SigningAlgorithm,
    #[command(flatten)]
    pub tokens: service_flags::TokenArgs,
    /// Access-token lifetime in seconds (at most the verifiers' longest accepted lifetime,
    /// `auth_tokens::DEFAULT_MAX_LIFETIME_SECONDS`).
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=auth_tokens::DEFAULT_MAX_LIFETIME_SECONDS))]
    pub access_token_ttl: u64,
    /// Refresh-token lifetime in seconds (a minute to a year).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 14 * 24 * 3600,
        value_parser = clap::value_parser!(u64).range(60..=365 * 24 * 3600))]
    pub refresh_token_ttl: u64,
    /// Failed logins allowed per (username, client address) within the window.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_failures: u32,
    /// Failed logins allowed per client address within the window, whatever the usernames.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_failures_per_address: u32,
    /// The window (seconds) failed logins are counted in.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600))]
    pub failure_window: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (comma-separated IP
    /// addresses); unset: the TCP peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins of browser pages allowed to log in here across origins (comma-separated, e.g.
    /// the inference service's page: http://127.0.0.1:8002); unset: none (no CORS).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// From the second failure of a (username, address) on, the next attempt waits this many
    /// seconds, doubling with each further failure (0: no delay, only the window's limit).
    #[arg(long, env = "LOGIN_BACKOFF_SECONDS", default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub backoff_seconds: u64,
    /// The first admin, created on start if missing (with ADMIN_PASSWORD).
    #[arg(long, env = "ADMIN_USERNAME")]
    pub admin_username: Option<String>,
    /// The first admin's password (a secret: never printed, `Debug` shows it redacted), held to
    /// the policy on every start, the admin existing or not.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, value_parser = service_flags::secret)]
    pub admin_password: Option<SecretString>,
    /// Or a file holding the first admin's password (a Docker secret), read on every start.
    #[arg(long, env = "ADMIN_PASSWORD_FILE", conflicts_with = "admin_password")]
    pub admin_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub server: service_flags::ServerArgs,
}

impl AuthArgs {
    /// The settings these flags give, each checked once: a value that cannot be used is
    /// refused naming its flag, before the database is opened.
    pub fn settings(&self) -> Result<AuthSettings, SettingsError> {
        let signing_key = match (&self.signing_key_file, self.dev_ephemeral_key) {
            (Some(path), _) => SigningKeySource::File(path.clone()),
            (None, true) => SigningKeySource::Ephemeral(self.dev_key_algorithm),
            (None, false) => return Err(SettingsError::NoSigningKey),
        };
        let password = match (&self.admin_password_file, &self.admin_password) {
            (Some(path), _) => Some(AdminPassword::File(path.clone())),
            (None, Some(secret)) => Some(AdminPassword::Secret(secret.clone())),
            (None, None) => None,
        };
        Ok(AuthSettings {
            listen: self.listen,
            database: self.database.settings(DEFAULT_DATABASE_FILE),
            signing_key,
            previous_key_files: self.previous_key_files.clone(),
            tokens: self.tokens.audience(),
            access_token_lifetime: Duration::from_secs(self.access_token_ttl),
            first_admin: self
                .admin_username
                .clone()
                .map(|username| FirstAdminSettings { username, password }),
            api: ApiSettings {
                refresh_lifetime: Duration::from_secs(self.refresh_token_ttl),
                max_failures: settings::at_least_one("LOGIN_MAX_FAILURES", self.max_failures)?,
                max_failures_per_address: settings::at_least_one(
                    "LOGIN_MAX_FAILURES_PER_ADDRESS",
                    self.max_failures_per_address,
                )?,
                failure_window: Duration::from_secs(self.failure_window),
                backoff_base: Duration::from_secs(self.backoff_seconds),
                trusted_proxies: self.trusted_proxies.clone(),
                browser_origins: settings::browser_origins(&self.cors_allowed_origins)?,
                limits: self.server.limits(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use http_kit::origin::WebOrigin;

    use super::*;

    #[test]
    fn hostile_lifetimes_and_limits_are_refused_when_parsed() {
        for (flag, value) in [
            ("--access-token-ttl", "0"),
            ("--access-token-ttl", "3601"),
            ("--refresh-token-ttl", "18446744073709551615"),
            ("--refresh-token-ttl", "-1"),
            ("--max-failures", "-5"),
            ("--max-failures", "0"),
            ("--max-failures-per-address", "1000001"),
            ("--failure-window", "0"),
            ("--backoff-seconds", "99999"),
        ] {
            assert!(
                service_flags::refuses::<AuthArgs>(flag, value),
                "{flag}={value}"
            );
        }
        let defaults: AuthArgs = service_flags::defaults();
        assert_eq!((defaults.access_token_ttl, defaults.max_failures), (900, 5));
    }

    /// The settings of `flags`, the shell's environment ignored.
    fn settings_of(flags: &[&str]) -> Result<AuthSettings, SettingsError> {
        service_flags::parse_without_env::<AuthArgs>(flags)
            .unwrap()
            .settings()
    }

    #[test]
    fn the_settings_carry_what_the_flags_say() {
        let error = settings_of(&[]).unwrap_err().to_string();
        assert!(error.starts_with("no signing key"), "{error}");
        let settings = settings_of(&[
            "--dev-ephemeral-key",
            "--dev-key-algorithm=EdDSA",
            "--access-token-ttl=60",
            "--backoff-seconds=0",
            "--admin-username=root",
            "--admin-password-file=/run/secrets/admin",
            "--cors-allowed-origins=http://127.0.0.1:8002/, http://localhost:8002",
        ])
        .unwrap();
        assert_eq!(
            settings.signing_key,
            SigningKeySource::Ephemeral(SigningAlgorithm::EdDSA)
        );
        assert_eq!(settings.access_token_lifetime, Duration::from_secs(60));
        assert_eq!(settings.api.backoff_base, Duration::ZERO);
        assert_eq!(settings.api.max_failures.get(), 5);
        assert_eq!(
            settings
                .api
                .browser_origins
                .iter()
                .map(WebOrigin::as_str)
                .collect::<Vec<_>>(),
            ["http://127.0.0.1:8002", "http://localhost:8002"]
        );
        let admin = settings.first_admin.expect("configured");
        assert_eq!(admin.username, "root");
        assert!(matches!(admin.password, Some(AdminPassword::File(_))));
        // A key file wins over the development key; no admin without a username.
        let settings = settings_of(&["--signing-key-file=key.pem", "--dev-ephemeral-key"]).unwrap();
        assert_eq!(
            settings.signing_key,
            SigningKeySource::File("key.pem".into())
        );
        assert!(settings.first_admin.is_none());
    }

    #[test]
    fn a_page_origin_that_is_not_one_is_refused() {
        for bad in ["*", "http://host/path", "javascript:x"] {
            let flag = format!("--cors-allowed-origins={bad}");
            let error = settings_of(&["--dev-ephemeral-key", &flag])
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("CORS_ALLOWED_ORIGINS"), "{bad}: {error}");
        }
    }
}
