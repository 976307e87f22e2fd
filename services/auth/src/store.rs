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

    /// Deletes a user and revokes their refresh tokens and access tokens; false if there was
    /// no such user.
    pub async fn delete_user(&self, username: &str, now: i64, access_expiry: i64) -> Result<bool> {
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
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 WHERE username = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if deleted > 0 {
            // Every session of the user: each token the service signs carries its session,
            // so the published list covers them all while naming nobody (a refresh in flight
            // signs into a session listed here too).
            let families: Vec<String> = sqlx::query_scalar(
                "SELECT family FROM refresh_families WHERE username = $1 \
                     AND (revoked_at IS NULL OR revoked_at = $2)",
            )
            .bind(username)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for family in families {
                revoke_access_in(&mut tx, "sid", &family, now, access_expiry).await?;
            }
        }
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

    /// Starts a login session's refresh-token family.
    pub async fn create_family(&self, family: &str, username: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_families (family, username, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (family) DO NOTHING",
        )
        .bind(family)
        .bind(username)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims a refresh token: one statement marks it used only if it is unused, unrevoked,
    /// unexpired and its family is not revoked, so two concurrent exchanges of one token
    /// cannot both succeed, and no token of a revoked family is ever exchanged again.
    pub async fn consume_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshState> {
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
               AND NOT EXISTS (SELECT 1 FROM refresh_families f \
                               WHERE f.family = refresh_tokens.family AND f.revoked_at IS NOT NULL)",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let row = sqlx::query(
            "SELECT t.family, t.username, t.expires_at, t.used_at, t.revoked_at, \
                    f.revoked_at AS family_revoked_at \
             FROM refresh_tokens t LEFT JOIN refresh_families f ON f.family = t.family \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshState::Unknown);
        };
        let family: String = row.try_get("family")?;
        let username: String = row.try_get("username")?;
        if claimed == 1 {
            return Ok(RefreshState::Active { family, username });
        }
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let family_revoked_at: Option<i64> = row.try_get("family_revoked_at")?;
        Ok(if revoked_at.is_some() || family_revoked_at.is_some() {
            RefreshState::Revoked
        } else if used_at.is_some() {
            RefreshState::Reused { family }
        } else if expires_at <= now {
            RefreshState::Expired
        } else {
            RefreshState::Reused { family }
        })
    }

    /// Revokes a session: the family flag (checked by every exchange), its tokens, and its
    /// access tokens (`sid`) until they would have expired anyway.
    pub async fn revoke_family(&self, family: &str, now: i64, access_expiry: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO refresh_families (family, username, created_at, revoked_at) \
             SELECT $1, COALESCE(MIN(username), ''), $2, $2 FROM refresh_tokens WHERE family = $1 \
             ON CONFLICT (family) DO UPDATE SET revoked_at = COALESCE(refresh_families.revoked_at, $2)",
        )
        .bind(family)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        revoke_access_in(&mut tx, "sid", family, now, access_expiry).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Revokes the family of the token with this hash; false if the token is unknown.
    pub async fn revoke_token_family(
        &self,
        token_hash: &str,
        now: i64,
        access_expiry: i64,
    ) -> Result<bool> {
        let family: Option<String> =
            sqlx::query("SELECT family FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("family"))
                .transpose()?;
        match family {
            Some(family) => {
                self.revoke_family(&family, now, access_expiry).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Access-token revocations still in force at `now`: (kind, value, revoked_at).
    pub async fn access_revocations(&self, now: i64) -> Result<Vec<(String, String, i64)>> {
        sqlx::query("DELETE FROM access_revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT kind, value, revoked_at FROM access_revocations WHERE expires_at > $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("kind")?,
                    row.try_get("value")?,
                    row.try_get("revoked_at")?,
                ))
            })
            .collect()
    }

    /// Reserves a login attempt for `subject` before the password is checked: one atomic
    /// upsert counts it as a failure, unless the subject is throttled (`max` failures in the
    /// window, or still inside its progressive delay). Returns the failures counted so far
    /// (this attempt included), or `Err(seconds)` to wait.
    pub async fn reserve_attempt(
        &self,
        subject: &str,
        now: i64,
        window: i64,
        max: i64,
    ) -> Result<std::result::Result<i64, i64>> {
        let counted = sqlx::query(
            "INSERT INTO login_throttle (subject, failures, window_start, blocked_until) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (subject) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                               ELSE login_throttle.failures + 1 END, \
               window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                                   ELSE login_throttle.window_start END, \
               blocked_until = CASE WHEN login_throttle.window_start <= $3 THEN 0 \
                                    ELSE login_throttle.blocked_until END \
             WHERE login_throttle.window_start <= $3 \
                OR (login_throttle.failures < $4 AND login_throttle.blocked_until <= $2) \
             RETURNING failures",
        )
        .bind(subject)
        .bind(now)
        .bind(now - window)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = counted {
            return Ok(Ok(row.try_get("failures")?));
        }
        let row = sqlx::query(
            "SELECT failures, window_start, blocked_until FROM login_throttle WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        let wait = match row {
            Some(row) => {
                let failures: i64 = row.try_get("failures")?;
                let window_start: i64 = row.try_get("window_start")?;
                let blocked_until: i64 = row.try_get("blocked_until")?;
                let window_ends = if failures >= max {
                    window_start + window
                } else {
                    now
                };
                window_ends.max(blocked_until) - now
            }
            None => 1,
        };
        Ok(Err(wait.max(1)))
    }

    /// After a failed check: the subject waits `delay` seconds before its next attempt.
    pub async fn delay_next_attempt(&self, subject: &str, until: i64) -> Result<()> {
        // The longest delay wins: a concurrent failure never shortens another's.
        sqlx::query(
            "UPDATE login_throttle SET blocked_until = \
             CASE WHEN blocked_until < $1 THEN $1 ELSE blocked_until END WHERE subject = $2",
        )
        .bind(until)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives back a reserved attempt that was not a failure.
    pub async fn release_attempt(&self, subject: &str) -> Result<()> {
        sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1 WHERE subject = $1 AND failures > 0",
        )
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A successful login clears the subject's failures.
    pub async fn clear_attempts(&self, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
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
}

/// Records an access-token revocation inside `tx` (kept until `expires_at`, when every token
/// it covers has expired anyway).
async fn revoke_access_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: &str,
    value: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_revocations (kind, value, revoked_at, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind, value) DO UPDATE SET revoked_at = $3, expires_at = $4",
    )
    .bind(kind)
    .bind(value)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
