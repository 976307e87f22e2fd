//! Shared by the auth test binaries.

use std::net::SocketAddr;
use std::path::PathBuf;

use auth::AuthArgs;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// The service's configuration for tests: the given database and signing key, a first admin,
/// short refresh lifetime, the default throttling limits without the progressive delay.
pub fn args(database_url: String, signing_key_file: Option<PathBuf>) -> AuthArgs {
    // The flags' own defaults (the shell's environment ignored), then what the tests need.
    let mut args: AuthArgs = service_flags::defaults();
    args.listen = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
    args.database.database_url = Some(database_url.into());
    args.signing_key_file = signing_key_file;
    args.refresh_token_ttl = 3600;
    args.backoff_seconds = 0;
    args.admin_username = Some(ADMIN.into());
    args.admin_password = Some(ADMIN_PASSWORD.into());
    args
}
