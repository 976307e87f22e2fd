//! One way to open the fleet's SQL databases (sqlx `Any`): a file path means SQLite (created
//! if missing), a `postgres://` URL PostgreSQL; the service's migrations run on connect.
//! Schemas stay portable: TEXT keys, BIGINT times and flags, DOUBLE PRECISION numbers.

use std::time::Duration;

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

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects to `configured` (a path or a URL) and runs `migrations`.
pub async fn connect(configured: &str, migrations: &Migrator) -> Result<AnyPool, PoolError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&database_url(configured))
        .await?;
    migrations.run(&pool).await?;
    Ok(pool)
}

/// The database answers.
pub async fn ping(pool: &AnyPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
