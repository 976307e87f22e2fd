//! Shared by the auth test binaries.

use std::net::SocketAddr;
use std::path::PathBuf;

use auth::AuthArgs;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// The service's configuration for tests: the given database and signing key, a first admin,
/// short refresh lifetime, the default throttling limits without the progressive delay.
pub fn args(database_url: String, signing_key_file: Option<PathBuf>) -> AuthArgs {
    AuthArgs {
        listen: "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        database: service_flags::DatabaseArgs {
            database_url: Some(database_url.into()),
            ..Default::default()
        },
        signing_key_file,
        previous_key_files: vec![],
        dev_ephemeral_key: false,
        dev_key_algorithm: auth_tokens::SigningAlgorithm::RS256,
        tokens: Default::default(),
        access_token_ttl: 900,
        refresh_token_ttl: 3600,
        max_failures: 5,
        max_failures_per_address: 100,
        failure_window: 900,
        backoff_seconds: 0,
        trusted_proxies: vec![],
        cors_allowed_origins: vec![],
        admin_username: Some(ADMIN.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        admin_password_file: None,
        server: Default::default(),
    }
}
