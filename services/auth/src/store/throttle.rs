//! Login throttling (failures per subject in a window, and a progressive delay) and the log
//! of login attempts.

use sqlx::Row;

use super::{Result, Store};

impl Store {
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
