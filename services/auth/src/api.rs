//! HTTP endpoints. Every error is JSON `{error, message}`.

use std::net::SocketAddr;
use std::sync::Arc;

use auth_tokens::{now_seconds, random_id, Issuer, Jwks, Role, Verifier};
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use http_kit::{ApiError, Authenticated, BearerAuth, ErrorBody, VerifierState};
use http_metrics::HttpMetrics;
use prometheus::{IntCounter, IntCounterVec, Opts};
use utoipa::OpenApi;

use crate::client_address::client_address;
use crate::passwords;
use crate::store::{RefreshState, Store, StoreError, User};

pub struct Settings {
    pub refresh_lifetime_seconds: u64,
    /// Failed logins allowed per (username, client address) within the window.
    pub max_failures: i64,
    /// Failed logins allowed per client address, whatever the usernames (password spraying).
    pub max_failures_per_address: i64,
    pub failure_window_seconds: u64,
    /// After the second failure of a (username, address), the next attempt waits this many
    /// seconds, doubling with every further failure.
    pub backoff_base_seconds: u64,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub limits: http_kit::ServerLimits,
}

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

pub struct AppState {
    pub store: Store,
    pub metrics: AuthMetrics,
    pub issuer: Issuer,
    pub verifier: Verifier,
    pub jwks: Jwks,
    pub settings: Settings,
    /// Checked against for unknown users, so they cost the same time as wrong passwords.
    pub decoy_hash: String,
    pub hashing: crate::hashing::HashingLimiter,
}

type SharedState = Arc<AppState>;

/// Logins take tens of milliseconds (argon2); anything near this is stuck.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn router(state: SharedState) -> Router {
    let http_metrics = state.metrics.http.clone();
    let router = Router::new()
        .route("/login", post(login))
        .route("/token", post(token))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/users", post(create_user).get(list_users))
        .route("/users/{username}", delete(delete_user))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/revocations.json", get(revocations))
        .route("/health/live", get(http_kit::live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(http_kit::docs(ApiDoc::openapi()))
        .fallback(http_kit::not_found)
        .with_state(state);
    http_kit::standard_layers(router, REQUEST_TIMEOUT).layer(axum::middleware::from_fn_with_state(
        http_metrics,
        HttpMetrics::layer,
    ))
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

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "invalid username or password",
    )
}

impl VerifierState for AppState {
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Credentials {
    username: String,
    password: String,
}

fn refresh_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Issues an access token and a refresh token in `family` (the session: `sid`).
async fn tokens_for(
    state: &AppState,
    user: &str,
    role: Role,
    family: &str,
) -> Result<TokenResponse, ApiError> {
    let (access_token, _) = state
        .issuer
        .issue_in_session(user, role, Some(family))
        .map_err(|e| {
            tracing::error!("cannot sign a token: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot sign a token",
            )
        })?;
    state.metrics.tokens_issued.inc();
    let refresh_token = format!("{}{}", random_id(), random_id());
    let now = now_seconds() as i64;
    state
        .store
        .insert_refresh_token(
            &refresh_hash(&refresh_token),
            family,
            user,
            now,
            now + state.settings.refresh_lifetime_seconds as i64,
        )
        .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.issuer.lifetime_seconds(),
        refresh_token,
    })
}

fn throttled(state: &AppState, wait_seconds: i64) -> ApiError {
    state.metrics.logins.with_label_values(&["throttled"]).inc();
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many failed logins; try again later",
    )
    .retry_after(wait_seconds.max(1) as u64)
}

/// The longest password checked: argon2 hashes any length, and a megabyte-long one is
/// only a way to spend the service's time.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks credentials with throttling and auditing; returns the user's role.
///
/// Throttling is per (username, client address), so failures elsewhere never lock out a
/// user logging in from a clean address, plus a looser cap per address. Each attempt
/// reserves its slot with one atomic upsert before the password is checked, so a burst of
/// concurrent attempts cannot all slip under the limit; failures add a progressive delay.
async fn authenticate(
    state: &AppState,
    credentials: Credentials,
    client_ip: &str,
) -> Result<Role, ApiError> {
    if !valid_username(&credentials.username) {
        return Err(invalid_username());
    }
    if credentials.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_password",
            format!("passwords have at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let now = now_seconds() as i64;
    let window = state.settings.failure_window_seconds as i64;
    let address = format!("ip:{client_ip}");
    let pair = format!("user:{}|ip:{client_ip}", credentials.username);
    let store = &state.store;
    if let Err(wait) = store
        .reserve_attempt(
            &address,
            now,
            window,
            state.settings.max_failures_per_address,
        )
        .await?
    {
        return Err(throttled(state, wait));
    }
    let failures = match store
        .reserve_attempt(&pair, now, window, state.settings.max_failures)
        .await?
    {
        Ok(failures) => failures,
        Err(wait) => {
            store.release_attempt(&address).await?;
            return Err(throttled(state, wait));
        }
    };
    let Some(mut permit) = state.hashing.enter().await else {
        store.release_attempt(&pair).await?;
        store.release_attempt(&address).await?;
        state.metrics.logins.with_label_values(&["shed"]).inc();
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many logins in progress; try again shortly",
        )
        .retry_after(1));
    };
    let user = state.store.user(&credentials.username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.decoy_hash.clone());
    let password = credentials.password;
    let matches = tokio::task::spawn_blocking(move || {
        passwords::verify_in(&password, &hash, permit.memory())
    })
    .await
    .unwrap_or(false);
    let succeeded = matches && user.is_some();
    if succeeded {
        store.clear_attempts(&pair).await?;
        store.release_attempt(&address).await?;
    } else {
        let base = state.settings.backoff_base_seconds as i64;
        let delay = if failures < 2 || base == 0 {
            0
        } else {
            base << (failures - 2).min(16)
        };
        store.delay_next_attempt(&pair, now + delay).await?;
    }
    state
        .store
        .record_login_attempt(
            &random_id(),
            &credentials.username,
            client_ip,
            succeeded,
            now,
        )
        .await?;
    tracing::info!(username = %credentials.username, client_ip, succeeded, "login attempt");
    let outcome = if succeeded {
        "success"
    } else {
        "invalid_credentials"
    };
    state.metrics.logins.with_label_values(&[outcome]).inc();
    match user {
        Some(user) if succeeded => Ok(user.role),
        _ => Err(bad_credentials()),
    }
}

async fn login_with(
    state: &AppState,
    credentials: Credentials,
    client_ip: &str,
) -> Result<TokenResponse, ApiError> {
    let username = credentials.username.clone();
    let role = authenticate(state, credentials, client_ip).await?;
    let family = random_id();
    state
        .store
        .create_family(&family, &username, now_seconds() as i64)
        .await?;
    tokens_for(state, &username, role, &family).await
}

/// When a revocation made now can be forgotten: every access token it covers has expired.
fn access_expiry(state: &AppState, now: i64) -> i64 {
    now + state.issuer.lifetime_seconds() as i64 + 60
}

/// Reads the access-token revocations in force and hands them to this service's verifier.
pub async fn sync_revocations(state: &AppState) -> Result<auth_tokens::Revocations, StoreError> {
    let now = now_seconds() as i64;
    let mut revocations = auth_tokens::Revocations::default();
    for (kind, value, revoked_at) in state.store.access_revocations(now).await? {
        match kind.as_str() {
            "sid" => revocations.revoke_session(&value),
            "sub" => revocations.revoke_subject(&value, revoked_at as u64),
            other => tracing::warn!(kind = other, "unknown revocation kind ignored"),
        }
    }
    state.verifier.set_revocations(revocations.clone());
    Ok(revocations)
}

#[utoipa::path(post, path = "/login", request_body = Credentials, responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn login(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(credentials) = body?;
    let client = client_address(peer.ip(), &headers, &state.settings.trusted_proxies);
    Ok(Json(login_with(&state, credentials, &client).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TokenForm {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

/// The OAuth2 token endpoint: the password and refresh_token grants, form-encoded.
#[utoipa::path(post, path = "/token", request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn token(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Form(form) = form?;
    match form.grant_type.as_str() {
        "password" => {
            let (Some(username), Some(password)) = (form.username, form.password) else {
                return Err(ApiError::bad_request(
                    "the password grant needs username and password",
                ));
            };
            let credentials = Credentials { username, password };
            let client = client_address(peer.ip(), &headers, &state.settings.trusted_proxies);
            Ok(Json(login_with(&state, credentials, &client).await?))
        }
        "refresh_token" => {
            let Some(refresh_token) = form.refresh_token else {
                return Err(ApiError::bad_request(
                    "the refresh_token grant needs refresh_token",
                ));
            };
            Ok(Json(exchange(&state, &refresh_token).await?))
        }
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported (password, refresh_token)"),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RefreshBody {
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair; a reused token revokes its whole family.
async fn exchange(state: &AppState, refresh_token: &str) -> Result<TokenResponse, ApiError> {
    let now = now_seconds() as i64;
    match state
        .store
        .consume_refresh_token(&refresh_hash(refresh_token), now)
        .await?
    {
        RefreshState::Active { family, username } => {
            let user = state
                .store
                .user(&username)
                .await?
                .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
            tokens_for(state, &user.username, user.role, &family).await
        }
        RefreshState::Reused { family } => {
            let revoked = state
                .store
                .revoke_family(&family, now, access_expiry(state, now))
                .await?;
            sync_revocations(state).await?;
            tracing::warn!(
                family,
                revoked,
                "refresh token reuse detected; session revoked"
            );
            Err(ApiError::unauthorized(
                "refresh token reuse detected; the session has been revoked",
            ))
        }
        RefreshState::Expired => Err(ApiError::unauthorized("the refresh token has expired")),
        RefreshState::Revoked => Err(ApiError::unauthorized("the refresh token was revoked")),
        RefreshState::Unknown => Err(ApiError::unauthorized("unknown refresh token")),
    }
}

#[utoipa::path(post, path = "/refresh", request_body = RefreshBody, responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn refresh(
    State(state): State<SharedState>,
    body: Result<Json<RefreshBody>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(body) = body?;
    Ok(Json(exchange(&state, &body.refresh_token).await?))
}

#[utoipa::path(post, path = "/logout", request_body = RefreshBody, responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn logout(
    State(state): State<SharedState>,
    body: Result<Json<RefreshBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    let now = now_seconds() as i64;
    if state
        .store
        .revoke_token_family(
            &refresh_hash(&body.refresh_token),
            now,
            access_expiry(&state, now),
        )
        .await?
    {
        sync_revocations(&state).await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized("unknown refresh token"))
    }
}

#[utoipa::path(get, path = "/me", responses((status = 200, description = "username, role, expires_at"), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(Authenticated(claims): Authenticated) -> Json<serde_json::Value> {
    Json(json!({"username": claims.sub, "role": claims.role, "expires_at": claims.exp}))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewUser {
    username: String,
    password: String,
    /// `admin` or `clinician`.
    #[schema(value_type = String)]
    role: Role,
}

#[derive(Serialize, utoipa::ToSchema)]
struct UserView {
    username: String,
    #[schema(value_type = String)]
    role: Role,
    created_at: i64,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            username: user.username,
            role: user.role,
            created_at: user.created_at,
        }
    }
}

fn invalid_username() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_username",
        "usernames have 1 to 64 letters, digits or . _ - @",
    )
}

fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

/// Creates a user (already validated), hashing the password off the async threads.
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, StoreError> {
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await
        .expect("hashing does not panic");
    let user = User {
        username: username.to_owned(),
        password_hash,
        role,
        created_at: now_seconds() as i64,
    };
    store.create_user(&user).await?;
    Ok(user)
}

#[utoipa::path(post, path = "/users", request_body = NewUser, responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_user(
    State(state): State<SharedState>,
    caller: Authenticated,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    caller.require_admin()?;
    let Json(new) = body?;
    if !valid_username(&new.username) {
        return Err(invalid_username());
    }
    if let Some(violation) = passwords::policy_violation(&new.password) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            violation,
        ));
    }
    let user = add_user(&state.store, &new.username, &new.password, new.role).await?;
    tracing::info!(by = %caller.0.sub, username = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/users", responses((status = 200, body = [UserView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_users(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require_admin()?;
    let users = state.store.users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[utoipa::path(delete, path = "/users/{username}", params(("username" = String, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_user(
    State(state): State<SharedState>,
    caller: Authenticated,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if !valid_username(&username) {
        return Err(invalid_username());
    }
    let now = now_seconds() as i64;
    if state
        .store
        .delete_user(&username, now, access_expiry(&state, now))
        .await?
    {
        sync_revocations(&state).await?;
        tracing::info!(by = %caller.0.sub, username, "user deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no user {username}"),
        ))
    }
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(state): State<SharedState>) -> Response {
    state.metrics.http.render().into_response()
}

#[utoipa::path(get, path = "/.well-known/jwks.json", responses((status = 200, description = "the public signing keys (JWKS)")))]
async fn jwks(State(state): State<SharedState>) -> Json<serde_json::Value> {
    Json(state.jwks.to_json())
}

/// The list this service's verifier enforces, read from memory: kept current by every
/// revocation here and by the 5-second sync (other replicas), so an unauthenticated poll never
/// touches the database.
#[utoipa::path(get, path = "/.well-known/revocations.json", responses((status = 200, description = "access tokens revoked before their expiry: sessions (sid) and SHA-256 hashes of usernames with the time up to which their tokens are revoked")))]
async fn revocations(State(state): State<SharedState>) -> Json<auth_tokens::Revocations> {
    Json(state.verifier.revocations())
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
    paths(login, token, refresh, logout, me, create_user, list_users, delete_user, jwks, revocations, ready, metrics),
    components(schemas(Credentials, TokenForm, TokenResponse, RefreshBody, NewUser, UserView, ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
