//! Startup: the signing key, the database and the first admin, the state built from the
//! settings, and the server run until a signal.

use std::sync::Arc;

use anyhow::{bail, Context};
use auth_tokens::{
    Issuer, Jwks, KeySource, Role, SigningAlgorithm, SigningKey, Verifier, VerifierConfig,
};
use secrecy::{ExposeSecret, SecretString};
use sql_pool::DatabaseSettings;

use crate::api::{self, AppState};
use crate::config::Cli;
use crate::settings::{AdminPassword, AuthSettings, FirstAdminSettings, SigningKeySource};
use crate::store::Store;
use crate::{hashing, passwords};

fn signing_key(source: &SigningKeySource) -> anyhow::Result<SigningKey> {
    match source {
        SigningKeySource::File(path) => Ok(SigningKey::from_pem_file(path)?),
        SigningKeySource::Ephemeral(algorithm) => {
            let key = SigningKey::generate(*algorithm)?;
            tracing::warn!(
                kid = key.kid(),
                algorithm = %key.algorithm(),
                "DEVELOPMENT MODE: signing with an ephemeral key; tokens die with this process"
            );
            Ok(key)
        }
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
/// random one goes into `settings`, and into the answer to show the operator.
pub async fn prepare_first_admin(settings: &mut AuthSettings) -> anyhow::Result<FirstAdmin> {
    let Some(admin) = &mut settings.first_admin else {
        return Ok(FirstAdmin::NotConfigured);
    };
    if open_store(&settings.database)
        .await?
        .user(&admin.username)
        .await?
        .is_some()
    {
        return Ok(FirstAdmin::Exists);
    }
    if admin.password.is_some() {
        return Ok(FirstAdmin::Configured);
    }
    let password = SecretString::from(auth_tokens::random_id());
    admin.password = Some(AdminPassword::Secret(password.clone()));
    Ok(FirstAdmin::Generated(password))
}

async fn open_store(database: &DatabaseSettings) -> anyhow::Result<Store> {
    Store::connect(database)
        .await
        .with_context(|| format!("cannot open the database {}", database.redacted()))
}

/// Connects, migrates, creates the first admin if configured, and builds the shared state.
pub async fn build_state(settings: &AuthSettings) -> anyhow::Result<Arc<AppState>> {
    let key = signing_key(&settings.signing_key)?;
    let previous: Vec<SigningKey> = settings
        .previous_key_files
        .iter()
        .map(|p| SigningKey::from_pem_file(p))
        .collect::<Result<_, _>>()?;
    let mut published = vec![&key];
    published.extend(previous.iter());
    let jwks = Jwks::of(&published);
    let verifier = Verifier::new(
        VerifierConfig::for_audience(settings.tokens.clone()),
        KeySource::Static(jwks.clone()),
    )
    .await?;
    let store = open_store(&settings.database).await?;
    if let Some(admin) = &settings.first_admin {
        bootstrap_admin(&store, admin).await?;
    }
    let decoy_hash = tokio::task::spawn_blocking(|| passwords::hash("not a real password"))
        .await
        .expect("hashing does not panic");
    let state = Arc::new(AppState {
        store,
        metrics: api::AuthMetrics::new(),
        issuer: Issuer::new(
            key,
            &settings.tokens.issuer,
            &settings.tokens.audience,
            settings.access_token_lifetime.as_secs(),
        ),
        verifier,
        jwks,
        settings: settings.api.clone(),
        decoy_hash,
        hashing: hashing::HashingLimiter::for_this_machine(),
    });
    // Revocations already in force apply from the first request.
    api::sync_revocations(&state).await?;
    Ok(state)
}

/// The first admin's password as configured: `ADMIN_PASSWORD_FILE` read, and held to the
/// password policy (None: none configured). Checked at start, the admin existing or not: a
/// file that cannot be read, or a password the policy refuses, is a configuration error
/// either way, found before a database is opened.
pub fn first_admin_password(admin: &FirstAdminSettings) -> anyhow::Result<Option<SecretString>> {
    let password = match &admin.password {
        Some(AdminPassword::File(path)) => SecretString::from(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read ADMIN_PASSWORD_FILE {}", path.display()))?
                .trim_end_matches(['\r', '\n']),
        ),
        Some(AdminPassword::Secret(secret)) => secret.clone(),
        None => return Ok(None),
    };
    if let Some(violation) = passwords::policy_violation(password.expose_secret()) {
        bail!("the first admin's password (ADMIN_PASSWORD or ADMIN_PASSWORD_FILE) is refused: {violation}");
    }
    Ok(Some(password))
}

/// Refuses, before anything is written, a first admin whose password cannot be used.
pub fn check_first_admin(settings: &AuthSettings) -> anyhow::Result<()> {
    if let Some(admin) = &settings.first_admin {
        first_admin_password(admin)?;
    }
    Ok(())
}

async fn bootstrap_admin(store: &Store, admin: &FirstAdminSettings) -> anyhow::Result<()> {
    let Some(password) = first_admin_password(admin)? else {
        return Ok(());
    };
    let (username, password) = (admin.username.as_str(), password.expose_secret());
    if store.user(username).await?.is_some() {
        return Ok(());
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
    let app = api::router(state);
    http_kit::serve(listener, app, limits, shutdown).await?;
    sync.abort();
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.args.settings()?;
    check_first_admin(&settings)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let state = build_state(&settings).await?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        tracing::info!(address = %settings.listen, "auth service listening");
        serve(listener, state, http_kit::shutdown_signal()).await
    })
}
