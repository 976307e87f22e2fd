//! auth: users in SQL (SQLite by default, PostgreSQL via `DATABASE_URL`), argon2id passwords,
//! RS256 (or EdDSA) JWT access tokens published as a JWKS, rotating refresh tokens with reuse detection,
//! login throttling, and the admin / clinician roles.

// Leaves: no import of the layers above.
pub mod client_address;
pub mod hashing;
pub mod passwords;
pub mod settings;
pub mod store;
// The HTTP layer, the command line the settings are parsed from, and startup.
pub mod api;
pub mod config;
pub mod startup;

pub use config::{AuthArgs, Cli, DEFAULT_ADMIN_USERNAME, DEFAULT_DATABASE_FILE, DEFAULT_LISTEN};
pub use settings::{AuthSettings, SettingsError};
pub use startup::{
    build_state, check_first_admin, load_or_create_signing_key, prepare_first_admin, run, serve,
    FirstAdmin,
};
