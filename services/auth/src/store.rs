//! Users, refresh tokens and login attempts in SQL (SQLite or PostgreSQL, one code path
//! through sqlx's `Any` driver; queries use `$n` parameters, which both accept).

use auth_tokens::Role;
use sqlx::{AnyPool, Row};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
}

/// What a refresh token was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshState {
    /// Valid: it may be exchanged once.
    Active {
        family: String,
        username: String,
    },
    /// Already exchanged: presenting it again means it leaked.
    Reused {
        family: String,
    },
    Expired,
    Revoked,
    Unknown,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    pub async fn connect(configured_url: &str) -> Result<Self> {
        let pool = sql_pool::connect(configured_url, &sqlx::migrate!("./migrations")).await?;
        Ok(Self { pool })
    }

    /// The database answers.
    pub async fn ping(&self) -> bool {
        sql_pool::ping(&self.pool).await
    }

    pub async fn create_user(&self, user: &User) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::UserExists(user.username.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT username, password_hash, role, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| user_from(&row)).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT username, password_hash, role, created_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from).collect()
    }

    /// Deletes a user and revokes their refresh tokens; false if there was no such user.
    pub async fn delete_user(&self, username: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE username = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    pub async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family: &str,
        username: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family, username, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(family)
        .bind(username)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Looks a refresh token up and, if it is active, marks it used in the same statement, so
    /// two concurrent exchanges of one token cannot both succeed.
    pub async fn consume_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshState> {
        let row = sqlx::query(
            "SELECT family, username, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshState::Unknown);
        };
        let family: String = row.try_get("family")?;
        let username: String = row.try_get("username")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Ok(RefreshState::Revoked);
        }
        if used_at.is_some() {
            return Ok(RefreshState::Reused { family });
        }
        if expires_at <= now {
            return Ok(RefreshState::Expired);
        }
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if claimed == 1 {
            RefreshState::Active { family, username }
        } else {
            RefreshState::Reused { family }
        })
    }

    pub async fn revoke_family(&self, family: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Revokes the family of the token with this hash; false if the token is unknown.
    pub async fn revoke_token_family(&self, token_hash: &str, now: i64) -> Result<bool> {
        let family: Option<String> =
            sqlx::query("SELECT family FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("family"))
                .transpose()?;
        match family {
            Some(family) => {
                self.revoke_family(&family, now).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub async fn record_login_attempt(
        &self,
        id: &str,
        username: &str,
        client_ip: &str,
        succeeded: bool,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_attempts (id, username, client_ip, succeeded, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(username)
        .bind(client_ip)
        .bind(i64::from(succeeded))
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failed attempts since `since` for this username and for this client address, and the
    /// time of the oldest of each (to compute when the window frees up).
    pub async fn recent_failures(
        &self,
        username: &str,
        client_ip: &str,
        since: i64,
    ) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM login_attempts WHERE username = $1 AND succeeded = 0 AND at >= $3) AS by_user, \
               (SELECT COUNT(*) FROM login_attempts WHERE client_ip = $2 AND succeeded = 0 AND at >= $3) AS by_ip, \
               (SELECT COALESCE(MIN(at), 0) FROM login_attempts \
                  WHERE (username = $1 OR client_ip = $2) AND succeeded = 0 AND at >= $3) AS oldest",
        )
        .bind(username)
        .bind(client_ip)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get("by_user")?,
            row.try_get("by_ip")?,
            row.try_get("oldest")?,
        ))
    }
}

fn user_from(row: &sqlx::any::AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: Role::parse(&role).ok_or(StoreError::BadRole(role))?,
        created_at: row.try_get("created_at")?,
    })
}
