//! Admitted work: the admission answer (429 for a busy user, 503 for a busy service or an
//! audit log that cannot record), and CPU work run off the async workers in the user's turn.

use axum::http::StatusCode;
use http_kit::ApiError;

use crate::admission::{Refusal, Ticket};
use crate::state::AppState;

/// Recordings scored per forward pass; between passes, work whose request is gone stops.
pub(crate) const RECORDINGS_PER_PASS: usize = 128;

/// Admits prediction work for `user`, or answers 429 (this user has enough in progress) or
/// 503 (the service has).
/// Also 503 while answers could not be recorded (the audit database and its spill file both
/// failing): no prediction goes unaudited.
pub(crate) fn admit(state: &AppState, user: &str) -> Result<Ticket, ApiError> {
    if let Some(spill_error) = state.log.not_durable() {
        state.metrics.outcome("audit_unavailable");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!(
                "predictions cannot be recorded (spill file: {spill_error}); none are answered until they can"
            ),
        )
        .retry_after(5));
    }
    state.admission.admit(user).map_err(|refusal| {
        state.metrics.outcome("overloaded");
        match refusal {
            Refusal::UserBusy { limit } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_predictions",
                format!("you have {limit} predictions in progress; wait for one to finish"),
            )
            .retry_after(1),
            Refusal::Saturated { limit } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!("{limit} predictions are in progress; try again shortly"),
            )
            .retry_after(1),
        }
    })
}

/// Runs a user's admitted CPU work of `windows` windows off the async workers. Work of more
/// than one scoring pass (128 windows) waits for the user's turn (half the cores per user);
/// smaller work (a patient's 23 recordings, a real-time push) runs at once, as it takes
/// milliseconds.
pub(crate) async fn blocking_as<T: Send + 'static>(
    ticket: &Ticket,
    windows: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = match windows > RECORDINGS_PER_PASS {
        true => Some(ticket.turn().await),
        false => None,
    };
    blocking(work).await
}

/// Runs CPU work off the async workers, inside the caller's span (its request's).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(ApiError::internal)?
}
