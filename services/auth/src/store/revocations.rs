//! Revoked access tokens, by kind (`sid`: a session) and value, each kept until every token it
//! covers has expired anyway; the service publishes those still in force.

use sqlx::Row;

use super::{Result, Store};

impl Store {
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
}

/// Records an access-token revocation inside `tx` (kept until `expires_at`, when every token
/// it covers has expired anyway).
pub(super) async fn revoke_access_in(
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
