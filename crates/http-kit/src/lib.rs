//! What every HTTP service of the fleet shares, so each applies the same rules:
//! * [`ApiError`]: every error is JSON `{error, message}` (401 answers add
//!   `WWW-Authenticate: Bearer`, 429 answers `Retry-After`);
//! * [`Authenticated`]: the request's bearer token, verified by the shared
//!   [`auth_tokens::Verifier`], with role checks;
//! * [`standard_layers`]: request ids (`x-request-id`, kept from the client or made up) in
//!   every log line of the request, a request timeout, a completion log line, and security
//!   headers;
//! * [`serve`]: header-read / idle timeout, a connection cap and graceful shutdown;
//! * [`shutdown_signal`], [`docs`] (the OpenAPI document and a self-contained Swagger UI)
//!   and the JSON 404 [`not_found`].

mod auth;
pub mod body_budget;
mod error;
mod layers;
pub mod origin;
mod server;

pub use auth::{Authenticated, VerifierState};
pub use body_budget::{limit_bodies, BodyBudget, BodyCaps, BodyOwner};
pub use error::{ApiError, ErrorBody};
pub use layers::{standard_layers, RequestId, REQUEST_ID_HEADER};
pub use server::{serve, ServerLimits};

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

/// The content security policy of the docs pages: everything from this origin, nothing
/// from anywhere else (Swagger UI sets element styles, hence inline styles; images of its
/// own icons come as data: URLs).
pub const DOCS_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// `GET /openapi.json` and the docs pages at `/docs`: Swagger UI, its assets embedded in the
/// binary (served by the service itself, never fetched from the internet), under
/// [`DOCS_CSP`], with the online validator badge off.
pub fn docs<S: Clone + Send + Sync + 'static>(
    openapi: utoipa::openapi::OpenApi,
) -> axum::Router<S> {
    use tower_http::set_header::SetResponseHeaderLayer;
    let ui = utoipa_swagger_ui::SwaggerUi::new("/docs")
        .url("/openapi.json", openapi)
        .config(utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none"));
    axum::Router::<S>::from(ui).layer(SetResponseHeaderLayer::overriding(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(DOCS_CSP),
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

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what `docker stop` sends). Both handlers are in
/// place when this returns, before the future is first polled: a signal that comes right after
/// (a banner saying "Ctrl-C stops" read by a quick operator or script) is caught, not the
/// default action that kills the process mid-start. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let wait = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(interrupt) => {}
            _ = wait(terminate) => {}
        }
        tracing::info!("shutting down: draining in-flight requests");
    }
}
