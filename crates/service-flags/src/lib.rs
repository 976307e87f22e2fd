//! The command-line edge of the fleet. Every service binary (and `seizure-ops`) flattens these
//! clap groups into its command line; each group turns into the plain, typed settings of the
//! library that uses it (`telemetry::LogFormat`, `http_kit::ServerLimits`,
//! `sql_pool::DatabaseSettings`, `auth_tokens::TokenAudience`, and with the `stages` feature
//! `stage_kit::{DvcSettings, RemoteSettings, TrackingSettings}`). The libraries themselves know
//! nothing of clap or of environment variables: only this crate, the services' `config`
//! modules and the app do.

#[cfg(feature = "servers")]
mod database;
mod group;
mod log;
#[cfg(feature = "servers")]
mod server;
#[cfg(feature = "stages")]
mod stages;
#[cfg(feature = "servers")]
mod tokens;

#[cfg(feature = "servers")]
pub use database::DatabaseArgs;
pub use group::{defaults, from_env, parse_without_env, refuses};
pub use log::LogArgs;
#[cfg(feature = "servers")]
pub use server::ServerArgs;
#[cfg(feature = "stages")]
pub use stages::{DvcArgs, RemoteArgs, TrackingArgs};
#[cfg(feature = "servers")]
pub use tokens::TokenArgs;

/// A secret from the command line or the environment, kept out of `Debug` output (a clap
/// value parser: `value_parser = service_flags::secret`).
#[cfg(feature = "servers")]
pub fn secret(text: &str) -> Result<secrecy::SecretString, std::convert::Infallible> {
    Ok(secrecy::SecretString::from(text))
}
