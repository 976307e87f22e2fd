//! Users, refresh tokens and login attempts in SQL (SQLite or PostgreSQL, one code path
//! through sqlx's `Any` driver; queries use `$n` parameters, which both accept).
//!
//! [`Store`] is one pool on the migrated database; its methods are spread by what they keep:
//! `users.rs` (accounts), `refresh.rs` (refresh tokens and their families, one per login
//! session), `revocations.rs` (revoked access tokens) and `throttle.rs` (login throttling and
//! the log of login attempts).

mod refresh;
mod revocations;
mod throttle;
mod users;

use sqlx::AnyPool;

pub use refresh::RefreshState;
pub use users::User;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Pool(#[from] sql_pool::PoolError),
    #[error("user {0} already exists")]
    UserExists(String),
    #[error("the stored role {0:?} is unknown")]
    BadRole(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    pub async fn connect(database: &sql_pool::DatabaseSettings) -> Result<Self> {
        let pool = sql_pool::connect_to(database, &sqlx::migrate!("./migrations")).await?;
        Ok(Self { pool })
    }

    /// The database answers.
    pub async fn ping(&self) -> bool {
        sql_pool::ping(&self.pool).await
    }
}
