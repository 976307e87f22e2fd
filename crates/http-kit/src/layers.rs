use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tracing::Instrument;

use crate::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, as a request extension for handlers that record it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps every route: a request id (the client's `x-request-id` if it sent a sane one,
/// otherwise a new one; echoed in the response) on a span around the request, so every log
/// line of the request carries it; a timeout answering 503 in JSON (the handler's future is
/// dropped, which cancels its work); a completion log line; and security headers on every
/// response unless the route set its own: `X-Content-Type-Options: nosniff`,
/// `Cache-Control: no-store` (tokens and patient data must not be cached, RFC 6749 5.1),
/// `Pragma: no-cache`, and a content security policy that allows nothing (JSON needs nothing).
pub fn standard_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    timeout: Duration,
) -> Router<S> {
    use axum::http::header::{
        CACHE_CONTROL, CONTENT_SECURITY_POLICY, PRAGMA, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    use tower_http::set_header::SetResponseHeaderLayer;
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(axum::middleware::from_fn(move |request, next| {
            with_request_id_and_timeout(request, next, timeout)
        }))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(CACHE_CONTROL, "no-store"))
        .layer(header(PRAGMA, "no-cache"))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(auth_tokens::random_id)
}

async fn with_request_id_and_timeout(
    mut request: Request,
    next: Next,
    timeout: Duration,
) -> Response {
    let id = request_id(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), route);
    let started = Instant::now();
    request.extensions_mut().insert(RequestId(id.clone()));
    async move {
        let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("the request took longer than {} ms", timeout.as_millis()),
            )
            .into_response(),
        };
        let status = response.status().as_u16();
        let millis = started.elapsed().as_secs_f64() * 1e3;
        if response.status().is_server_error() {
            tracing::warn!(status, millis, "request failed");
        } else {
            tracing::debug!(status, millis, "request finished");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }
    .instrument(span)
    .await
}
