//! HTTP endpoints. Every error is JSON `{error, message}`.
//!
//! * [`sessions`]: logins, the OAuth2 token endpoint, refresh, logout, `/me`, and what other
//!   services fetch to verify tokens (JWKS, revocations).
//! * [`users`]: the admin's user management.
//! * [`metrics`]: the service's Prometheus metrics.

use std::sync::Arc;

use auth_tokens::{Issuer, Jwks, Verifier};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use http_kit::origin::WebOrigin;
use http_kit::{ApiError, BearerAuth, ErrorBody, VerifierState};
use http_metrics::HttpMetrics;
use utoipa::OpenApi;

use crate::settings::ApiSettings;
use crate::store::{Store, StoreError};

pub mod metrics;
pub mod sessions;
pub mod usernames;
pub mod users;

pub use metrics::AuthMetrics;
pub use sessions::sync_revocations;
pub use users::add_user;

pub struct AppState {
    pub store: Store,
    pub metrics: AuthMetrics,
    pub issuer: Issuer,
    pub verifier: Verifier,
    pub jwks: Jwks,
    pub settings: ApiSettings,
    /// Checked against for unknown users, so they cost the same time as wrong passwords.
    pub decoy_hash: String,
    pub hashing: crate::hashing::HashingLimiter,
}

pub(crate) type SharedState = Arc<AppState>;

/// Credentials, forms and user records are small: a body over 16 KiB is not one of them. The
/// limit is part of the router, so whatever serves it (the binary, `seizure-ops serve`, a
/// test) applies it.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Logins take tens of milliseconds (argon2); anything near this is stuck.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router(state: SharedState) -> Router {
    let http_metrics = state.metrics.http.clone();
    // Browser pages of the configured origins (inference's /ui/) log in here.
    let mut token_routes = Router::new()
        .route("/login", post(sessions::login))
        .route("/refresh", post(sessions::refresh))
        .route("/logout", post(sessions::logout))
        .route("/me", get(sessions::me));
    if let Some(cors) = browser_cors(&state.settings.browser_origins) {
        token_routes = token_routes.layer(cors);
    }
    let router = Router::new()
        .merge(token_routes)
        .route("/token", post(sessions::token))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{username}", delete(users::delete_user))
        .route("/.well-known/jwks.json", get(sessions::jwks))
        .route("/.well-known/revocations.json", get(sessions::revocations))
        .route("/health/live", get(http_kit::live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics::metrics))
        .merge(http_kit::docs(ApiDoc::openapi()))
        .fallback(http_kit::not_found)
        .with_state(state);
    http_kit::standard_layers(router, REQUEST_TIMEOUT)
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            HttpMetrics::layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// CORS for the token endpoints, for the configured page origins only (none: no CORS). Not
/// `*`: a page of any site a clinician visits could otherwise use their browser to try
/// passwords against an auth service only reachable inside the hospital. No credentials mode:
/// tokens travel in bodies and the `Authorization` header, never in cookies.
fn browser_cors(origins: &[WebOrigin]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.as_str()).expect("a WebOrigin holds header-safe characters")
        })
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UserExists(user) => Self::new(
                StatusCode::CONFLICT,
                "user_exists",
                format!("user {user} already exists"),
            ),
            other => {
                tracing::error!("storage failure: {other}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal storage error",
                )
            }
        }
    }
}

impl VerifierState for AppState {
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

#[utoipa::path(get, path = "/health/ready", responses((status = 200), (status = 503, body = ErrorBody)))]
async fn ready(State(state): State<SharedState>) -> Response {
    if state.store.ping().await {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database does not answer",
        )
        .into_response()
    }
}

/// The OpenAPI document, generated from the handlers above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "seizure-ops auth", description = "Users, roles and access tokens"),
    paths(
        sessions::login, sessions::token, sessions::refresh, sessions::logout, sessions::me,
        users::create_user, users::list_users, users::delete_user,
        sessions::jwks, sessions::revocations, ready, metrics::metrics
    ),
    components(schemas(
        sessions::Credentials, sessions::TokenForm, sessions::TokenResponse, sessions::RefreshBody,
        users::NewUser, users::UserView, ErrorBody
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
