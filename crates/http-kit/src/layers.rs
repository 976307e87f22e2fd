//! The layers every route of the fleet runs under, from tower-http where it has them.
//!
//! * Request ids: tower-http's `SetRequestIdLayer` / `PropagateRequestIdLayer` on
//!   `x-request-id`: the client's id when it is sane (at most 64 of `[A-Za-z0-9_-]`; anything
//!   else is dropped first, so a hostile id never reaches a log line), else a new random one;
//!   echoed on the response and handed to handlers as [`RequestId`].
//! * Tracing: tower-http's `TraceLayer`, with a span per request carrying the id, method and
//!   route template (so every log line of the request has them) and one completion line
//!   (`warn` for 5xx).
//! * The request timeout stays a small middleware here: tower-http's `TimeoutLayer` answers
//!   with an empty body, and every error of the fleet is JSON `{error, message}`.
//! * Security headers (tower-http `SetResponseHeaderLayer`), unless the route set its own.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId as TowerRequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, as a request extension for handlers that record it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A new random id for a request that brought no sane one.
#[derive(Debug, Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<TowerRequestId> {
        HeaderValue::from_str(&auth_tokens::random_id())
            .ok()
            .map(TowerRequestId::new)
    }
}

/// Wraps every route: request ids, tracing, the JSON request timeout and security headers
/// (see the module documentation): `X-Content-Type-Options: nosniff`, `Cache-Control:
/// no-store` (tokens and patient data must not be cached, RFC 6749 5.1), `Pragma: no-cache`,
/// `X-Frame-Options: DENY` and a content security policy that allows nothing.
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
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    // Each `.layer` wraps the ones before it: requests pass them bottom-up.
    router
        .layer(axum::middleware::from_fn(move |request, next| {
            with_timeout(request, next, timeout)
        }))
        .layer(axum::middleware::from_fn(expose_request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span::<axum::body::Body>)
                .on_request(())
                .on_response(log_completion::<axum::body::Body>)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, RandomRequestId))
        .layer(axum::middleware::map_request(drop_insane_request_id))
        .layer(header(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(CACHE_CONTROL, "no-store"))
        .layer(header(PRAGMA, "no-cache"))
        .layer(header(X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

fn is_sane_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// A client's id that is not sane is dropped, so the next layer makes one up.
async fn drop_insane_request_id(mut request: Request) -> Request {
    let insane = request
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .any(|id| !is_sane_request_id(id.as_bytes()))
        || request.headers().get_all(REQUEST_ID_HEADER).iter().count() > 1;
    if insane {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

fn id_of<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<TowerRequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    // Probes and scrapes come every few seconds: their spans are debug, so neither the logs
    // nor a trace collector fill with them.
    let span = if is_probe(route) {
        tracing::debug_span!(
            "request",
            request_id = %id_of(request),
            method = %request.method(),
            route
        )
    } else {
        tracing::info_span!(
            "request",
            request_id = %id_of(request),
            method = %request.method(),
            route
        )
    };
    // A caller's W3C trace context (`traceparent`): the request's spans join its trace.
    telemetry::continue_trace(&span, request.headers());
    span
}

/// A health probe's or a metrics scrape's route.
fn is_probe(route: &str) -> bool {
    route == "/metrics"
        || route.starts_with("/health/")
        || route.starts_with("/v2/health/")
        || (route.starts_with("/v2/models/") && route.ends_with("/ready"))
}

fn log_completion<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let millis = latency.as_secs_f64() * 1e3;
    if response.status().is_server_error() {
        tracing::warn!(status, millis, "request failed");
    } else {
        tracing::debug!(status, millis, "request finished");
    }
}

/// Hands the id to handlers as [`RequestId`].
async fn expose_request_id(mut request: Request, next: Next) -> Response {
    let id = id_of(&request);
    request.extensions_mut().insert(RequestId(id));
    next.run(request).await
}

/// Answers 503 in JSON when the handler takes longer than `timeout` (its future is dropped,
/// which cancels its work).
async fn with_timeout(request: Request, next: Next, timeout: Duration) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} ms", timeout.as_millis()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Extension;
    use tower::ServiceExt;

    fn app() -> Router {
        let router = Router::new()
            .route(
                "/id",
                get(|Extension(id): Extension<RequestId>| async move { id.0 }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .fallback(crate::not_found);
        standard_layers(router, Duration::from_millis(100))
    }

    async fn call(path: &str, id: Option<&str>) -> (StatusCode, String, String, Response) {
        let mut request = axum::http::Request::get(path);
        if let Some(id) = id {
            request = request.header(REQUEST_ID_HEADER, id);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let echoed = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        (
            status,
            echoed,
            text,
            Response::from_parts(parts, Body::empty()),
        )
    }

    #[tokio::test]
    async fn a_sane_client_id_is_kept_echoed_and_seen_by_the_handler() {
        let (status, echoed, seen, _) = call("/id", Some("trace-42_A")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (echoed.as_str(), seen.as_str()),
            ("trace-42_A", "trace-42_A")
        );
    }

    #[tokio::test]
    async fn hostile_or_missing_ids_are_replaced_by_a_fresh_one() {
        let long = "a".repeat(65);
        for id in [
            None,
            Some("has space"),
            Some("line\tbreak"),
            Some(long.as_str()),
            Some(""),
        ] {
            let (_, echoed, seen, _) = call("/id", id).await;
            assert_eq!(echoed, seen, "{id:?}");
            assert!(
                is_sane_request_id(echoed.as_bytes()),
                "{id:?} -> {echoed:?}"
            );
            assert_ne!(Some(echoed.as_str()), id, "{id:?}");
        }
        let (_, first, _, _) = call("/id", None).await;
        let (_, second, _, _) = call("/id", None).await;
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_slow_handler_gets_a_json_503_with_the_security_headers() {
        let (status, echoed, body, response) = call("/slow", Some("slow-1")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(echoed, "slow-1");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "timeout");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
    }

    #[tokio::test]
    async fn unknown_routes_get_an_id_and_the_security_headers_too() {
        let (status, echoed, body, response) = call("/nope", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(is_sane_request_id(echoed.as_bytes()), "{echoed:?}");
        assert!(body.contains("not_found"), "{body}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    #[test]
    fn only_short_plain_ids_are_sane() {
        assert!(is_sane_request_id(b"abc-DEF_123"));
        let long = [b'x'; 65];
        let ids: [&[u8]; 5] = [b"", b"a b", b"caf\xc3\xa9", b"a\nb", &long];
        for id in ids {
            assert!(!is_sane_request_id(id), "{id:?}");
        }
    }
}
