//! A budget for request bodies in memory, in bytes, shared by every request of a service:
//! the body limit bounds one request, this bounds them all together, so that the connection
//! cap times the body limit (1,024 x 8 MiB) never has to fit in memory.
//!
//! Bytes are counted as they arrive, not as declared: a client that announces a large
//! `Content-Length` and sends nothing holds nothing (reserving the declared length let four
//! idle connections refuse every other body for the request timeout). What a request has
//! read stays counted until its answer is ready (the parsed form lives that long too), and
//! is never held past the request timeout (the handler, its body with it, is dropped). When
//! the budget cannot take the next bytes, the request is answered 503 with `Retry-After`.
//!
//! Each user has a share of it too ([`BodyBudget::per_user`]): once the authentication
//! extractor has named the caller ([`BodyOwner`], set by [`crate::Authenticated`]), their
//! bodies in memory together stay within the share, or the request is answered 429, so one
//! user cannot spend the budget of everyone else.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// The request-body caps as they take effect: the total never below one largest body (a lone
/// largest request always fits) nor above what the budget can count, one user's share between
/// one largest body and the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCaps {
    /// Largest request body (and WebSocket message) accepted.
    pub max_body_bytes: usize,
    /// Request bodies in memory, all requests together.
    pub in_flight: usize,
    /// One user's bodies in memory together.
    pub per_user: usize,
}

impl BodyCaps {
    /// The caps from their settings; the per-user share defaults to one largest body.
    pub fn new(max_body_bytes: usize, in_flight: usize, per_user: Option<usize>) -> Self {
        let in_flight = in_flight.max(max_body_bytes).min(Semaphore::MAX_PERMITS);
        Self {
            max_body_bytes,
            in_flight,
            per_user: per_user
                .unwrap_or(max_body_bytes)
                .max(max_body_bytes)
                .min(in_flight),
        }
    }
}

#[derive(Clone, Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    budget_bytes: usize,
    max_body_bytes: usize,
    /// The most one user's bodies may hold together.
    per_user_bytes: usize,
    /// Bytes each named user's bodies hold now (users holding nothing are not kept).
    users: Arc<Mutex<HashMap<Arc<str>, usize>>>,
}

impl BodyBudget {
    /// `budget_bytes` for all bodies in memory together, never below one largest body
    /// (`max_body_bytes`), so that a lone largest request always fits; each user may hold
    /// all of it until [`BodyBudget::per_user`] says otherwise.
    pub fn new(budget_bytes: usize, max_body_bytes: usize) -> Self {
        Self::with_caps(BodyCaps::new(
            max_body_bytes,
            budget_bytes,
            Some(usize::MAX),
        ))
    }

    /// The budget of `caps` (brought within each other again, however they were made).
    pub fn with_caps(caps: BodyCaps) -> Self {
        let caps = BodyCaps::new(caps.max_body_bytes, caps.in_flight, Some(caps.per_user));
        Self {
            permits: Arc::new(Semaphore::new(caps.in_flight)),
            budget_bytes: caps.in_flight,
            max_body_bytes: caps.max_body_bytes,
            per_user_bytes: caps.per_user,
            users: Arc::default(),
        }
    }

    /// Each user's bodies in memory together hold at most `bytes` (never below one largest
    /// body, never above the whole budget).
    pub fn per_user(mut self, bytes: usize) -> Self {
        self.per_user_bytes =
            BodyCaps::new(self.max_body_bytes, self.budget_bytes, Some(bytes)).per_user;
        self
    }

    /// The most one user's bodies may hold together.
    pub fn per_user_bytes(&self) -> usize {
        self.per_user_bytes
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.budget_bytes
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Whose body a request carries: put in the request's extensions by [`limit_bodies`], named
/// by the authentication extractor once the token is verified (bodies are read after it).
#[derive(Clone, Debug, Default)]
pub struct BodyOwner(Arc<OnceLock<Arc<str>>>);

impl BodyOwner {
    /// Names the caller (the first name given stays).
    pub fn set(&self, user: &str) {
        let _ = self.0.set(Arc::from(user));
    }

    fn get(&self) -> Option<&Arc<str>> {
        self.0.get()
    }
}

/// A user's bytes held by one request, given back when dropped.
struct UserShare {
    users: Arc<Mutex<HashMap<Arc<str>, usize>>>,
    user: Arc<str>,
    bytes: usize,
}

impl Drop for UserShare {
    fn drop(&mut self) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = users.get_mut(&self.user) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                users.remove(&self.user);
            }
        }
    }
}

/// What one request has taken from the budget, given back when its answer is ready (or when
/// the request is dropped, a timeout's).
#[derive(Default)]
struct Held {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    user: Mutex<Option<UserShare>>,
    refused: AtomicBool,
    refused_user: AtomicBool,
}

impl Held {
    /// Takes `bytes` more of `user`'s share, or says no.
    fn take_user_share(&self, budget: &BodyBudget, user: &Arc<str>, bytes: usize) -> bool {
        let mut users = budget.users.lock().unwrap_or_else(|p| p.into_inner());
        let held = users.entry(user.clone()).or_default();
        if *held + bytes > budget.per_user_bytes {
            if *held == 0 {
                users.remove(user);
            }
            return false;
        }
        *held += bytes;
        drop(users);
        let mut share = self.user.lock().unwrap_or_else(|p| p.into_inner());
        match share.as_mut() {
            Some(share) => share.bytes += bytes,
            None => {
                *share = Some(UserShare {
                    users: budget.users.clone(),
                    user: user.clone(),
                    bytes,
                })
            }
        }
        true
    }
}

/// A request body that takes each frame's bytes from the budget (and its owner's share) as
/// it arrives.
struct Counted {
    inner: Body,
    budget: BodyBudget,
    owner: BodyOwner,
    held: Arc<Held>,
    /// This body's bytes so far.
    read: usize,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let len = data.len();
                self.read = self.read.saturating_add(len);
                // A body past the largest allowed is the body limit's to refuse (413: no
                // retry helps), not the share's (429: retry shortly).
                let within_limit = self.read <= self.budget.max_body_bytes;
                if let Some(user) = self.owner.get().filter(|_| within_limit) {
                    if !self.held.take_user_share(&self.budget, user, len) {
                        self.held.refused_user.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(axum::Error::new(BudgetSpentError))));
                    }
                }
                let wanted = u32::try_from(len).unwrap_or(u32::MAX);
                match self.budget.permits.clone().try_acquire_many_owned(wanted) {
                    Ok(permit) => {
                        let mut held = self.held.permit.lock().unwrap_or_else(|p| p.into_inner());
                        match held.as_mut() {
                            Some(all) => all.merge(permit),
                            None => *held = Some(permit),
                        }
                    }
                    Err(_) => {
                        self.held.refused.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(axum::Error::new(BudgetSpentError))));
                    }
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The error a body read raises when the budget is spent (the request is answered 503).
#[derive(Debug)]
pub struct BudgetSpentError;

impl std::fmt::Display for BudgetSpentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the service's budget for request bodies is spent")
    }
}

impl std::error::Error for BudgetSpentError {}

/// The middleware: `axum::middleware::from_fn_with_state(budget, limit_bodies)`.
pub async fn limit_bodies(
    axum::extract::State(budget): axum::extract::State<BodyBudget>,
    request: Request,
    next: Next,
) -> Response {
    let held = Arc::new(Held::default());
    let owner = BodyOwner::default();
    let (mut parts, inner) = request.into_parts();
    parts.extensions.insert(owner.clone());
    let request = Request::from_parts(
        parts,
        Body::new(Counted {
            inner,
            budget: budget.clone(),
            owner,
            held: held.clone(),
            read: 0,
        }),
    );
    let response = next.run(request).await;
    // The answer is ready: what the request read (and parsed) is given back.
    drop(held.permit.lock().unwrap_or_else(|p| p.into_inner()).take());
    drop(held.user.lock().unwrap_or_else(|p| p.into_inner()).take());
    if held.refused_user.load(Ordering::Relaxed) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            format!(
                "your request bodies in memory have reached one user's share of the service's \
                 budget ({} KiB); send fewer at once",
                budget.per_user_bytes >> 10
            ),
        )
        .retry_after(1)
        .into_response();
    }
    if held.refused.load(Ordering::Relaxed) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "request bodies in memory have reached the service's budget ({} MiB); try \
                 again shortly",
                budget.budget_bytes >> 20
            ),
        )
        .retry_after(1)
        .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::http::header::CONTENT_LENGTH;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn body_caps_take_effect_within_each_other() {
        let mib = 1 << 20;
        // The per-user share defaults to one largest body.
        assert_eq!(
            BodyCaps::new(8 * mib, 24 * mib, None),
            BodyCaps {
                max_body_bytes: 8 * mib,
                in_flight: 24 * mib,
                per_user: 8 * mib
            }
        );
        // A total below one body is raised to it; a share outside the two is brought inside.
        assert_eq!(BodyCaps::new(8 * mib, mib, None).in_flight, 8 * mib);
        assert_eq!(BodyCaps::new(8 * mib, 24 * mib, Some(1)).per_user, 8 * mib);
        assert_eq!(
            BodyCaps::new(8 * mib, 24 * mib, Some(usize::MAX)).per_user,
            24 * mib
        );
        assert_eq!(
            BodyCaps::new(8 * mib, 24 * mib, Some(16 * mib)).per_user,
            16 * mib
        );
        // What the budget can count, at most.
        assert_eq!(
            BodyCaps::new(8 * mib, usize::MAX, None).in_flight,
            Semaphore::MAX_PERMITS
        );
        let budget = BodyBudget::with_caps(BodyCaps::new(8 * mib, 24 * mib, Some(16 * mib)));
        assert_eq!(
            (budget.bytes(), budget.per_user_bytes()),
            (24 * mib, 16 * mib)
        );
        // Caps written out by hand are brought within each other too.
        let budget = BodyBudget::with_caps(BodyCaps {
            max_body_bytes: 8 * mib,
            in_flight: usize::MAX,
            per_user: 1,
        });
        assert_eq!(
            (budget.bytes(), budget.per_user_bytes()),
            (Semaphore::MAX_PERMITS, 8 * mib)
        );
    }

    /// Handlers wait for a permit of `gate` each (after reading their body), so bodies stay
    /// counted until released.
    fn app(budget: BodyBudget, gate: Arc<Semaphore>) -> Router {
        Router::new()
            .route(
                "/",
                post(move |body: Bytes| {
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
            .body(Body::from(vec![b'x'; length]))
            .unwrap()
    }

    #[tokio::test]
    async fn bodies_past_the_budget_are_refused_until_one_finishes() {
        let gate = Arc::new(Semaphore::new(0));
        let budget = BodyBudget::new(300_000, 100_000);
        let app = app(budget.clone(), gate.clone());
        // Three bodies of 100 kB fill the budget while their handlers wait.
        let held: Vec<_> = (0..3)
            .map(|_| tokio::spawn(app.clone().oneshot(request(100_000))))
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(budget.available(), 0);
        let refused = app.clone().oneshot(request(10)).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        // A request without a body passes whatever the budget.
        let empty = Request::post("/").body(Body::empty()).unwrap();
        let empty = tokio::spawn(app.clone().oneshot(empty));
        gate.add_permits(4);
        for answer in held {
            assert_eq!(answer.await.unwrap().unwrap().status(), StatusCode::OK);
        }
        assert_eq!(empty.await.unwrap().unwrap().status(), StatusCode::OK);
        // The budget is back whole.
        assert_eq!(budget.available(), 300_000);
        gate.add_permits(1);
        let admitted = app.clone().oneshot(request(10)).await.unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
    }

    /// Handlers that name their caller from `x-user` (as the authentication extractor does
    /// with the verified token) and then wait for `gate` with their body read.
    fn owned_app(budget: BodyBudget, gate: Arc<Semaphore>) -> Router {
        Router::new()
            .route(
                "/",
                post(
                    move |headers: axum::http::HeaderMap,
                          owner: axum::Extension<BodyOwner>,
                          request: Request| {
                        let gate = gate.clone();
                        async move {
                            if let Some(user) = headers.get("x-user").and_then(|v| v.to_str().ok())
                            {
                                owner.set(user);
                            }
                            let body = axum::body::to_bytes(request.into_body(), usize::MAX).await;
                            let Ok(body) = body else {
                                return String::new();
                            };
                            gate.acquire().await.unwrap().forget();
                            body.len().to_string()
                        }
                    },
                ),
            )
            .layer(axum::middleware::from_fn_with_state(budget, limit_bodies))
    }

    fn owned_request(user: &str, length: usize) -> Request {
        Request::post("/")
            .header(CONTENT_LENGTH, length)
            .header("x-user", user)
            .body(Body::from(vec![b'x'; length]))
            .unwrap()
    }

    /// One user's bodies in flight stay within their share: the others still get in.
    #[tokio::test]
    async fn one_user_holds_at_most_their_share_of_the_budget() {
        let gate = Arc::new(Semaphore::new(0));
        let budget = BodyBudget::new(300_000, 100_000).per_user(100_000);
        assert_eq!(budget.per_user_bytes(), 100_000);
        let app = owned_app(budget.clone(), gate.clone());
        let first = tokio::spawn(app.clone().oneshot(owned_request("eve", 80_000)));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Eve's second body would take her past 100 kB: 429, while she holds the first.
        let second = app
            .clone()
            .oneshot(owned_request("eve", 30_000))
            .await
            .unwrap();
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.headers()["retry-after"], "1");
        // Another user's body is admitted.
        let other = tokio::spawn(app.clone().oneshot(owned_request("ada", 90_000)));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(budget.available(), 300_000 - 80_000 - 90_000);
        gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        assert_eq!(other.await.unwrap().unwrap().status(), StatusCode::OK);
        // Everything is given back: the budget and every user's share.
        assert_eq!(budget.available(), 300_000);
        assert!(budget.users.lock().unwrap().is_empty());
        gate.add_permits(1);
        let again = app
            .clone()
            .oneshot(owned_request("eve", 100_000))
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        // A body past the largest allowed is not refused by the share (the body limit
        // answers it 413): the share lets it be read on.
        gate.add_permits(1);
        let oversized = app
            .clone()
            .oneshot(owned_request("eve", 150_000))
            .await
            .unwrap();
        assert_eq!(oversized.status(), StatusCode::OK);
        // Shares never go below one largest body nor above the budget.
        assert_eq!(
            BodyBudget::new(300_000, 100_000)
                .per_user(1)
                .per_user_bytes(),
            100_000
        );
        assert_eq!(
            BodyBudget::new(300_000, 100_000)
                .per_user(1 << 30)
                .per_user_bytes(),
            300_000
        );
    }

    /// A body whose bytes never come.
    struct Silent;

    impl http_body::Body for Silent {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
            Poll::Pending
        }
    }

    /// Regression: reserving the declared length let a few connections that announce 8 MiB
    /// and send nothing refuse every other body. Declared bytes cost nothing until sent.
    #[tokio::test]
    async fn a_declared_length_that_never_arrives_holds_nothing() {
        let budget = BodyBudget::new(100_000, 100_000);
        let gate = Arc::new(Semaphore::new(10));
        let app = app(budget.clone(), gate);
        let silent = Request::post("/")
            .header(CONTENT_LENGTH, 100_000)
            .body(Body::new(Silent))
            .unwrap();
        let _silent = tokio::spawn(app.clone().oneshot(silent));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(budget.available(), 100_000);
        let answer = app.clone().oneshot(request(50_000)).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
}
