//! A budget for request bodies in flight, in bytes, shared by every request of a service:
//! the body limit bounds one request, this bounds them all together, so that the connection
//! cap times the body limit (1,024 x 8 MiB) never has to fit in memory. A request with a
//! body takes its declared length (`Content-Length`, or the body limit when it has none: a
//! chunked body) from the budget until its answer is ready; when the budget cannot cover
//! it, it is answered 503 at once, before its body is read.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::ApiError;

/// Bytes are counted in KiB (a semaphore holds at most `u32::MAX` permits per acquire).
const UNIT: usize = 1024;

#[derive(Clone, Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    budget_bytes: usize,
    max_body_bytes: usize,
}

impl BodyBudget {
    /// `budget_bytes` for all bodies in flight together, each at most `max_body_bytes`.
    pub fn new(budget_bytes: usize, max_body_bytes: usize) -> Self {
        let budget_bytes = budget_bytes.max(max_body_bytes);
        Self {
            permits: Arc::new(Semaphore::new(budget_bytes.div_ceil(UNIT))),
            budget_bytes,
            max_body_bytes,
        }
    }

    /// The budget in bytes (never below one largest body).
    pub fn bytes(&self) -> usize {
        self.budget_bytes
    }

    /// What a request takes from the budget: its declared length, at most the body limit;
    /// the body limit for a body of unknown length; nothing without a body.
    fn claim(&self, request: &Request) -> usize {
        let headers = request.headers();
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(length) => usize::try_from(length)
                .unwrap_or(usize::MAX)
                .min(self.max_body_bytes),
            None if headers.contains_key(TRANSFER_ENCODING) => self.max_body_bytes,
            None => 0,
        }
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(budget, limit_bodies)`.
pub async fn limit_bodies(
    axum::extract::State(budget): axum::extract::State<BodyBudget>,
    request: Request,
    next: Next,
) -> Response {
    let claim = budget.claim(&request);
    if claim == 0 {
        return next.run(request).await;
    }
    let units = u32::try_from(claim.div_ceil(UNIT)).unwrap_or(u32::MAX);
    match budget.permits.clone().try_acquire_many_owned(units) {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "request bodies in flight have reached the service's budget ({} MiB); \
                 try again shortly",
                budget.budget_bytes >> 20
            ),
        )
        .retry_after(1)
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// Handlers wait for a permit of `gate` each, so bodies stay in flight until released.
    fn app(budget: BodyBudget, gate: Arc<Semaphore>) -> Router {
        Router::new()
            .route(
                "/",
                post(move |body: axum::body::Bytes| {
                    let gate = gate.clone();
                    async move {
                        gate.acquire().await.unwrap().forget();
                        body.len().to_string()
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(budget, limit_bodies))
    }

    fn request(length: usize) -> Request {
        Request::post("/")
            .header(CONTENT_LENGTH, length)
            .body(axum::body::Body::from(vec![b'x'; length]))
            .unwrap()
    }

    #[tokio::test]
    async fn bodies_past_the_budget_are_refused_until_one_finishes() {
        let gate = Arc::new(Semaphore::new(0));
        let app = app(BodyBudget::new(3 * UNIT * 100, UNIT * 100), gate.clone());
        // Three bodies of 100 KiB fill the budget while their handlers wait.
        let held: Vec<_> = (0..3)
            .map(|_| tokio::spawn(app.clone().oneshot(request(100 * UNIT))))
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let refused = app.clone().oneshot(request(10)).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        // A request without a body passes whatever the budget.
        let empty = Request::post("/").body(axum::body::Body::empty()).unwrap();
        let empty = tokio::spawn(app.clone().oneshot(empty));
        gate.add_permits(4);
        for answer in held {
            assert_eq!(answer.await.unwrap().unwrap().status(), StatusCode::OK);
        }
        assert_eq!(empty.await.unwrap().unwrap().status(), StatusCode::OK);
        // The budget is back.
        gate.add_permits(1);
        let admitted = app.clone().oneshot(request(10)).await.unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
    }

    #[test]
    fn a_claim_is_the_declared_length_within_the_body_limit() {
        let budget = BodyBudget::new(64 * UNIT, 8 * UNIT);
        assert_eq!(budget.claim(&request(100)), 100);
        assert_eq!(budget.claim(&request(100 * UNIT)), 8 * UNIT);
        let chunked = Request::post("/")
            .header(TRANSFER_ENCODING, "chunked")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(budget.claim(&chunked), 8 * UNIT);
        let huge = Request::post("/")
            .header(CONTENT_LENGTH, "18446744073709551615")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(budget.claim(&huge), 8 * UNIT);
        assert_eq!(
            budget.claim(&Request::get("/").body(axum::body::Body::empty()).unwrap()),
            0
        );
        // Never below one largest body, so a lone largest request always passes.
        assert_eq!(BodyBudget::new(1, 8 * UNIT).bytes(), 8 * UNIT);
    }
}
