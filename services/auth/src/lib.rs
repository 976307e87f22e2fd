//! auth: users in SQL (SQLite by default, PostgreSQL via `DATABASE_URL`), argon2id passwords,
//! RS256 (or EdDSA) JWT access tokens published as a JWKS, rotating refresh tokens with reuse detection,
//! login throttling, and the admin / clinician roles.

pub mod api;
pub mod client_address;
pub mod hashing;
pub mod passwords;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use auth_tokens::{
    Issuer, Jwks, KeySource, Role, SigningAlgorithm, SigningKey, Verifier, VerifierConfig,
};
use clap::{Args, Parser};
use secrecy::{ExposeSecret, SecretString};

use crate::api::{AppState, Settings};
use crate::store::Store;

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
    /// The first admin's password (a secret: never printed, `Debug` shows it redacted).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, value_parser = service_flags::secret)]
    pub admin_password: Option<SecretString>,
    /// Or a file holding the first admin's password (a Docker secret).
    #[arg(long, env = "ADMIN_PASSWORD_FILE", conflicts_with = "admin_password")]
    pub admin_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub server: service_flags::ServerArgs,
}

fn signing_key(args: &AuthArgs) -> anyhow::Result<SigningKey> {
    match (&args.signing_key_file, args.dev_ephemeral_key) {
        (Some(path), _) => Ok(SigningKey::from_pem_file(path)?),
        (None, true) => {
            let key = SigningKey::generate(args.dev_key_algorithm)?;
            tracing::warn!(
                kid = key.kid(),
                algorithm = %key.algorithm(),
                "DEVELOPMENT MODE: signing with an ephemeral key; tokens die with this process"
            );
            Ok(key)
        }
        (None, false) => bail!(
            "no signing key: set AUTH_SIGNING_KEY_FILE to an RSA or Ed25519 PEM key \
             (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem), \
             or pass --dev-ephemeral-key"
        ),
    }
}

/// The signing key at `path`, created (RS256, a private file written atomically) if there is
/// none: the key policy of `seizure-ops up` and `seizure-ops keygen` alike.
pub fn load_or_create_signing_key(path: &std::path::Path) -> anyhow::Result<SigningKey> {
    if path.is_file() {
        return Ok(SigningKey::from_pem_file(path)?);
    }
    let key = SigningKey::generate(SigningAlgorithm::RS256)?;
    artifact_store::atomic::write_private_file(path, key.to_pem().as_bytes())
        .with_context(|| format!("cannot write the signing key {}", path.display()))?;
    tracing::info!(path = %path.display(), kid = key.kid(), "created the token signing key");
    Ok(key)
}

/// The first admin, as this start of the service will have it.
#[derive(Debug)]
pub enum FirstAdmin {
    /// No first admin is configured (no ADMIN_USERNAME).
    NotConfigured,
    /// Already in the database: its password is not this process's to know.
    Exists,
    /// To be created with the configured ADMIN_PASSWORD or ADMIN_PASSWORD_FILE.
    Configured,
    /// To be created with this random password (none was configured), for the operator to
    /// be shown once.
    Generated(SecretString),
}

/// Decides the first admin's password before the service starts (the database is opened and
/// migrated; nothing is written): when the admin is missing and no password is configured, a
/// random one goes into `args`, and into the answer to show the operator.
pub async fn prepare_first_admin(args: &mut AuthArgs) -> anyhow::Result<FirstAdmin> {
    let Some(username) = &args.admin_username else {
        return Ok(FirstAdmin::NotConfigured);
    };
    if open_store(args).await?.user(username).await?.is_some() {
        return Ok(FirstAdmin::Exists);
    }
    if args.admin_password.is_some() || args.admin_password_file.is_some() {
        return Ok(FirstAdmin::Configured);
    }
    let password = SecretString::from(auth_tokens::random_id());
    args.admin_password = Some(password.clone());
    Ok(FirstAdmin::Generated(password))
}

async fn open_store(args: &AuthArgs) -> anyhow::Result<Store> {
    let database = args.database.settings(DEFAULT_DATABASE_FILE);
    Store::connect(&database)
        .await
        .with_context(|| format!("cannot open the database {}", database.redacted()))
}

/// Connects, migrates, creates the first admin if configured, and builds the shared state.
pub async fn build_state(args: &AuthArgs) -> anyhow::Result<Arc<AppState>> {
    let key = signing_key(args)?;
    let previous: Vec<SigningKey> = args
        .previous_key_files
        .iter()
        .map(|p| SigningKey::from_pem_file(p))
        .collect::<Result<_, _>>()?;
    let mut published = vec![&key];
    published.extend(previous.iter());
    let jwks = Jwks::of(&published);
    let verifier = Verifier::new(
        VerifierConfig::for_audience(args.tokens.audience()),
        KeySource::Static(jwks.clone()),
    )
    .await?;
    let store = open_store(args).await?;
    bootstrap_admin(&store, args).await?;
    let decoy_hash = tokio::task::spawn_blocking(|| passwords::hash("not a real password"))
        .await
        .expect("hashing does not panic");
    let state = Arc::new(AppState {
        store,
        metrics: api::AuthMetrics::new(),
        issuer: Issuer::new(
            key,
            &args.tokens.issuer,
            &args.tokens.audience,
            args.access_token_ttl,
        ),
        verifier,
        jwks,
        settings: Settings {
            refresh_lifetime: Duration::from_secs(args.refresh_token_ttl),
            max_failures: args.max_failures,
            max_failures_per_address: args.max_failures_per_address,
            failure_window: Duration::from_secs(args.failure_window),
            backoff_base: Duration::from_secs(args.backoff_seconds),
            trusted_proxies: args.trusted_proxies.clone(),
            browser_origins: args
                .cors_allowed_origins
                .iter()
                .map(|o| http_kit::origin::web_origin(o.trim()))
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("CORS_ALLOWED_ORIGINS {e}"))?,
            limits: args.server.limits(),
        },
        decoy_hash,
        hashing: hashing::HashingLimiter::for_this_machine(),
    });
    // Revocations already in force apply from the first request.
    api::sync_revocations(&state).await?;
    Ok(state)
}

async fn bootstrap_admin(store: &Store, args: &AuthArgs) -> anyhow::Result<()> {
    let from_file = match &args.admin_password_file {
        Some(path) => Some(SecretString::from(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read ADMIN_PASSWORD_FILE {}", path.display()))?
                .trim_end_matches(['\r', '\n']),
        )),
        None => None,
    };
    let (Some(username), Some(password)) = (
        &args.admin_username,
        from_file.as_ref().or(args.admin_password.as_ref()),
    ) else {
        return Ok(());
    };
    let password = password.expose_secret();
    if store.user(username).await?.is_some() {
        return Ok(());
    }
    if let Some(violation) = passwords::policy_violation(password) {
        bail!("the first admin's password (ADMIN_PASSWORD or ADMIN_PASSWORD_FILE) is refused: {violation}");
    }
    api::add_user(store, username, password, Role::Admin).await?;
    tracing::info!(username, "created the first admin");
    Ok(())
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Revocations written by another replica reach this one's verifier too.
    let syncing = state.clone();
    let sync = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Err(e) = api::sync_revocations(&syncing).await {
                tracing::warn!("cannot read the access-token revocations: {e}");
            }
        }
    });
    let limits = state.settings.limits;
    // Credentials, forms and user records are small: a body over 16 KiB is not one of them.
    let app = api::router(state).layer(axum::extract::DefaultBodyLimit::max(16 * 1024));
    http_kit::serve(listener, app, limits, shutdown).await?;
    sync.abort();
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let state = build_state(&cli.args).await?;
        let listener = tokio::net::TcpListener::bind(cli.args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.args.listen))?;
        tracing::info!(address = %cli.args.listen, "auth service listening");
        serve(listener, state, http_kit::shutdown_signal()).await
    })
}

#[cfg(test)]
mod flag_tests {
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
            // `--flag=value`: a negative value is the flag's value, not another flag.
            let argument = format!("{flag}={value}");
            assert!(
                Cli::try_parse_from(["auth", argument.as_str()]).is_err(),
                "{argument}"
            );
        }
        let defaults = Cli::try_parse_from(["auth"]).unwrap().args;
        assert_eq!((defaults.access_token_ttl, defaults.max_failures), (900, 5));
    }
}
