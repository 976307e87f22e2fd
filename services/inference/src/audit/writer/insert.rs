//! The SQL: a batch in one transaction, the records the database refuses for good set aside
//! in `prediction_log_rejected`, and which failures are transient.

use sql_pool::MigratedPool;
use sqlx::AnyPool;

use crate::audit::{now_micros, PredictionRecord, Shared};

/// Whether an error may go away by itself (retry, spill), or is the database refusing this
/// record for good (set aside). Only errors about the data itself are permanent: anything
/// else (connections, locks, a read-only replica after failover, permissions being fixed)
/// is retried, so no answered prediction ends up outside the log because of the server.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
            if let Ok(sqlite) = code.parse::<u32>() {
                // SQLite primary codes about the data: TOOBIG 18, CONSTRAINT 19, MISMATCH 20,
                // RANGE 25.
                return !matches!(sqlite % 256, 18 | 19 | 20 | 25);
            }
            // PostgreSQL: class 22 (data exception) and 23 (integrity constraint violation).
            !(code.starts_with("22") || code.starts_with("23"))
        }
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => false,
        _ => true,
    }
}

/// Inserts the batch in one transaction (after the migrations, if the database was down at
/// start). If the database refuses it for good, each record is tried alone and the refused
/// ones are set aside with the reason.
pub(super) async fn insert_batch(
    db: &MigratedPool,
    records: &[PredictionRecord],
    shared: &Shared,
) -> Result<(), sqlx::Error> {
    let pool = db.get().await?;
    match insert_all(pool, records).await {
        Ok(()) => Ok(()),
        Err(e) if is_transient(&e) => Err(e),
        Err(batch_error) => {
            tracing::warn!(
                "the database refused an audit batch ({batch_error}); writing record by record"
            );
            for record in records {
                match insert_all(pool, std::slice::from_ref(record)).await {
                    Ok(()) => {}
                    Err(e) if is_transient(&e) => return Err(e),
                    Err(e) => {
                        let text = serde_json::to_string(record).unwrap_or_default();
                        reject(pool, &record.id, record.at_us, &e.to_string(), &text).await?;
                        shared.dead_lettered.inc();
                        tracing::error!(
                            id = %record.id,
                            "the database refused an audit record; kept in prediction_log_rejected: {e}"
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

async fn reject(
    pool: &AnyPool,
    id: &str,
    at_us: i64,
    reason: &str,
    record: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO prediction_log_rejected (id, at_us, rejected_at, reason, record) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(at_us)
    .bind(now_micros())
    .bind(reason)
    .bind(record)
    .execute(pool)
    .await?;
    Ok(())
}

async fn insert_all(pool: &AnyPool, records: &[PredictionRecord]) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut transaction = pool.begin().await?;
    for r in records {
        sqlx::query(
            "INSERT INTO prediction_log (id, at_us, username, role, request_id, patient_id, \
             model_version, recordings, seizure_probability, prediction, epileptic_recordings, \
             kind, session_id, acknowledges, decision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&r.id)
        .bind(r.at_us)
        .bind(&r.username)
        .bind(&r.role)
        .bind(r.request_id.as_deref())
        .bind(r.patient_id.map(|id| id as i64))
        .bind(&r.model_version)
        .bind(r.recordings as i64)
        .bind(r.seizure_probability)
        .bind(i64::from(r.prediction))
        .bind(serde_json::to_string(&r.epileptic_recordings).expect("indices serialise"))
        .bind(&r.kind)
        .bind(r.session_id.as_deref())
        .bind(r.acknowledges.as_deref())
        .bind(
            r.decision
                .as_ref()
                .map(|d| serde_json::to_string(d).expect("a decision serialises")),
        )
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
