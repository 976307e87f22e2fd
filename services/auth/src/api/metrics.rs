//! The service's Prometheus metrics, beside the shared HTTP ones.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http_metrics::HttpMetrics;
use prometheus::{IntCounter, IntCounterVec, Opts};

use super::SharedState;

/// The service's Prometheus metrics, beside the shared HTTP ones.
#[derive(Clone)]
pub struct AuthMetrics {
    pub http: HttpMetrics,
    /// Login attempts by outcome: success, invalid_credentials, throttled.
    pub logins: IntCounterVec,
    pub tokens_issued: IntCounter,
}

impl AuthMetrics {
    pub fn new() -> Self {
        let http = HttpMetrics::new();
        let logins = IntCounterVec::new(
            Opts::new("auth_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )
        .expect("a valid metric");
        let tokens_issued = IntCounter::new(
            "auth_tokens_issued_total",
            "Access tokens issued (logins and refreshes)",
        )
        .expect("a valid metric");
        for outcome in ["success", "invalid_credentials", "throttled", "shed"] {
            logins.with_label_values(&[outcome]);
        }
        http_metrics::register(http.registry(), logins.clone());
        http_metrics::register(http.registry(), tokens_issued.clone());
        Self {
            http,
            logins,
            tokens_issued,
        }
    }
}

impl Default for AuthMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
pub(super) async fn metrics(State(state): State<SharedState>) -> Response {
    state.metrics.http.render().into_response()
}
