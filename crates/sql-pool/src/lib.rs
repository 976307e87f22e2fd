//! One way to open the fleet's SQL databases (sqlx `Any`): a file path means SQLite (created
//! if missing), a `postgres://` URL PostgreSQL; the service's migrations run on connect.
//! Schemas stay portable: TEXT keys, BIGINT times and flags, DOUBLE PRECISION numbers.

mod settings;

use std::time::Duration;

pub use settings::DatabaseSettings;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

/// A file path means SQLite (created if missing); anything with a scheme is used as is.
pub fn database_url(configured: &str) -> String {
    if configured.contains("://") || configured.starts_with("sqlite:") {
        configured.to_owned()
    } else {
        format!("sqlite://{configured}?mode=rwc")
    }
}

/// A SQLite file holds password hashes or patients' predictions: it is created, or
/// tightened, to mode 0600 before SQLite opens it (SQLite gives its journal and WAL files
/// the same mode).
fn restrict_sqlite_file(configured: &str) -> std::io::Result<()> {
    let path = match configured
        .strip_prefix("sqlite://")
        .or(configured.strip_prefix("sqlite:"))
    {
        Some(rest) => rest.split('?').next().unwrap_or_default(),
        None if !configured.contains("://") => configured,
        None => return Ok(()),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        use std::os::unix::fs::PermissionsExt;
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let mode = fs_err::metadata(path)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// `url` with the password read from `password_file` (a Docker secret, say), so the
/// password never sits in an environment variable or a command line. A trailing newline in
/// the file is ignored. Only for URLs with a scheme (PostgreSQL).
pub fn with_password_file(url: &str, password_file: &std::path::Path) -> Result<String, PoolError> {
    let password = fs_err::read_to_string(password_file)?;
    let password = password.trim_end_matches(['\r', '\n']);
    // Messages show the URL redacted: it may carry a password by mistake.
    let shown = settings::redact(url);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        PoolError::Url(format!(
            "a password file needs a URL such as postgres://user@host/db, not {shown:?}"
        ))
    })?;
    // The user info ends at the last `@` of the authority (which ends at the first `/`, `?`
    // or `#`): an `@` in the path or the query is not the user's.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user, host)) = authority.rsplit_once('@') else {
        return Err(PoolError::Url(format!("{shown:?} names no user")));
    };
    let host_and_tail = format!("{host}{tail}");
    if user.contains(':') {
        return Err(PoolError::Url(format!(
            "{shown:?} already has a password; leave it out when using a password file"
        )));
    }
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    Ok(format!("{scheme}://{user}:{encoded}@{host_and_tail}"))
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("cannot create the database file with mode 0600: {0}")]
    File(#[from] std::io::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A `postgres://` URL in a build without the PostgreSQL driver (the lean embedded build)
/// says how to get one, rather than sqlx's bare "no driver found".
fn refuse_missing_driver(configured: &str) -> Result<(), PoolError> {
    let postgres = configured.starts_with("postgres://") || configured.starts_with("postgresql://");
    if postgres && !cfg!(feature = "postgres") {
        return Err(PoolError::Url(
            "this build has no PostgreSQL driver: build with `--features fleet` (the Docker \
             image and CI do), or give a SQLite file path"
                .into(),
        ));
    }
    Ok(())
}

fn pool_options_with(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
}

/// Connects to the configured database (its password resolved) and runs `migrations`.
pub async fn connect_to(
    settings: &DatabaseSettings,
    migrations: &Migrator,
) -> Result<AnyPool, PoolError> {
    use secrecy::ExposeSecret;
    let url = settings.resolve()?;
    connect_sized(url.expose_secret(), settings.max_connections(), migrations).await
}

/// Connects to `configured` (a resolved path or URL: never in a message) and runs
/// `migrations`.
async fn connect_sized(
    configured: &str,
    max_connections: u32,
    migrations: &Migrator,
) -> Result<AnyPool, PoolError> {
    sqlx::any::install_default_drivers();
    refuse_missing_driver(configured)?;
    restrict_sqlite_file(configured)?;
    let pool = pool_options_with(max_connections)
        .connect(&database_url(configured))
        .await?;
    migrations.run(&pool).await?;
    Ok(pool)
}

impl PoolError {
    /// The server did not answer (down, restarting, unreachable) as opposed to refusing us
    /// (a wrong password, a broken migration): worth waiting for.
    pub fn is_unreachable(&self) -> bool {
        let error = match self {
            PoolError::Connect(e) => e,
            PoolError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
            _ => return false,
        };
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
            // PostgreSQL class 57: starting up, shutting down, too many connections.
            sqlx::Error::Database(e) => e.code().is_some_and(|c| c.starts_with("57")),
            _ => false,
        }
    }
}

/// A pool whose migrations may still be due: a service whose database is down at start
/// (a PostgreSQL restart, a compose start order) starts anyway, and the migrations run on
/// the first use that reaches the server.
pub struct MigratedPool {
    pool: AnyPool,
    migrator: &'static Migrator,
    migrated: tokio::sync::OnceCell<()>,
}

impl MigratedPool {
    /// Connects and migrates now; if a PostgreSQL server does not answer, returns a lazy
    /// pool instead (SQLite, a refused login or a failed migration are errors now).
    pub async fn open(
        settings: &DatabaseSettings,
        migrator: &'static Migrator,
    ) -> Result<Self, PoolError> {
        use secrecy::ExposeSecret;
        match connect_to(settings, migrator).await {
            Ok(pool) => Ok(Self {
                pool,
                migrator,
                migrated: tokio::sync::OnceCell::new_with(Some(())),
            }),
            Err(e) if e.is_unreachable() && settings.redacted().starts_with("postgres") => {
                tracing::warn!(
                    "the database does not answer ({e}); starting anyway, migrations run once it does"
                );
                let url = settings.resolve()?;
                Ok(Self {
                    pool: pool_options_with(settings.max_connections())
                        .connect_lazy(&database_url(url.expose_secret()))?,
                    migrator,
                    migrated: tokio::sync::OnceCell::new(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The pool, once the migrations have run (they run now if they have not yet).
    pub async fn get(&self) -> Result<&AnyPool, sqlx::Error> {
        self.migrated
            .get_or_try_init(|| async {
                self.migrator.run(&self.pool).await.map_err(|e| match e {
                    sqlx::migrate::MigrateError::Execute(e) => e,
                    other => sqlx::Error::Migrate(Box::new(other)),
                })?;
                tracing::info!("database migrations applied");
                Ok::<(), sqlx::Error>(())
            })
            .await?;
        Ok(&self.pool)
    }

    /// Whether the migrations have run.
    pub fn is_migrated(&self) -> bool {
        self.migrated.initialized()
    }
}

/// The database answers.
pub async fn ping(pool: &AnyPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lean embedded build has SQLite only: a PostgreSQL URL says how to get the driver.
    #[cfg(not(feature = "postgres"))]
    #[test]
    fn a_postgres_url_without_the_driver_says_how_to_get_it() {
        let error = refuse_missing_driver("postgres://seizure@db/auth").unwrap_err();
        assert!(error.to_string().contains("--features fleet"), "{error}");
        refuse_missing_driver("auth.db").unwrap();
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn with_the_driver_a_postgres_url_goes_through() {
        refuse_missing_driver("postgres://seizure@db/auth").unwrap();
    }

    #[test]
    fn a_password_file_completes_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cr:t/@x\n").unwrap();
        assert_eq!(
            with_password_file("postgres://auth@postgres:5432/auth", &file).unwrap(),
            "postgres://auth:s3cr%3At%2F%40x@postgres:5432/auth"
        );
        assert!(with_password_file("postgres://auth:old@postgres/auth", &file).is_err());
        assert!(with_password_file("postgres://postgres/auth", &file).is_err());
        assert!(with_password_file("auth.db", &file).is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_created_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        let migrations = Migrator::DEFAULT;
        connect_to(&DatabaseSettings::sqlite_file(&fresh), &migrations)
            .await
            .unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o600);
        let loose = dir.path().join("loose.db");
        std::fs::write(&loose, b"").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let url = format!("sqlite://{}?mode=rwc", loose.display());
        connect_to(&DatabaseSettings::new(url), &migrations)
            .await
            .unwrap();
        assert_eq!(
            mode(&loose),
            0o600,
            "an existing world-readable file is tightened"
        );
    }
}
