//! What every HTTP service of the fleet shares, so each applies the same rules:
//! * [`ApiError`]: every error is JSON `{error, message}` (401 answers add
//!   `WWW-Authenticate: Bearer`, 429 answers `Retry-After`);
//! * [`Authenticated`]: the request's bearer token, verified by the shared
//!   [`auth_tokens::Verifier`], with role checks;
//! * [`standard_layers`]: request ids (`x-request-id`, kept from the client or made up) in
//!   every log line of the request, a request timeout, and a completion log line;
//! * [`shutdown_signal`], [`docs_page`] and the JSON 404 [`not_found`].

mod auth;
mod error;
mod layers;

pub use auth::{Authenticated, VerifierState};
pub use error::{ApiError, ErrorBody};
pub use layers::{standard_layers, RequestId, REQUEST_ID_HEADER};

use axum::response::Html;

/// The fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
    )
}

/// `GET /health/live`: the process answers.
pub async fn live() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// A docs page for `/openapi.json` whose viewer script the browser loads itself: nothing is
/// bundled at build time (build-time downloads are not possible everywhere).
pub fn docs_page(title: &str) -> Html<String> {
    Html(format!(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#ui"}});</script>
</body></html>"##
    ))
}

/// The bearer security scheme for an OpenAPI document (`modifiers(&BearerAuth)`).
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
}
