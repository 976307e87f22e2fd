//! User accounts: created, listed, looked up and deleted (deleting one ends its sessions).

use auth_tokens::Role;
use sqlx::Row;

use super::revocations::revoke_access_in;
use super::{Result, Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
}

/// The password hash stays out of `Debug` (and so out of logs and panics).
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password_hash", &"[REDACTED]")
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl Store {
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
