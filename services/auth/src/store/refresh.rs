//! Refresh tokens and their families: a family is one login session, each token of it can be
//! exchanged once, and revoking the family ends the session.

use sqlx::Row;

use super::revocations::revoke_access_in;
use super::{Result, Store};

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

impl Store {
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
}
