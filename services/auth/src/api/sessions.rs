//! Sessions: logins (throttled, audited), the OAuth2 token endpoint, refresh-token rotation
//! with reuse detection, logout, `/me`, and what other services fetch to verify tokens.

use std::net::SocketAddr;

use auth_tokens::{now_seconds, random_id, Role};
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::{Form, Json};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use http_kit::{ApiError, Authenticated, ErrorBody};

use super::usernames::{invalid_username, valid_username};
use super::{AppState, SharedState};
use crate::client_address::client_address;
use crate::passwords;
use crate::store::{RefreshState, StoreError};

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "invalid username or password",
    )
}

/// A token pair. Both tokens are secrets: `Debug` shows them redacted; only the answer's
/// JSON carries them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TokenResponse {
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    access_token: SecretString,
    token_type: &'static str,
    expires_in: u64,
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

fn expose<S: serde::Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

// A login. The password is a secret from the moment it is read (never in `Debug` or logs).
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Credentials {
    username: String,
    #[schema(value_type = String)]
    password: SecretString,
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
            now + state.settings.refresh_lifetime.as_secs() as i64,
        )
        .await?;
    Ok(TokenResponse {
        access_token: access_token.into(),
        token_type: "bearer",
        expires_in: state.issuer.lifetime_seconds(),
        refresh_token: refresh_token.into(),
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
#[tracing::instrument(skip_all)]
async fn authenticate(
    state: &AppState,
    credentials: Credentials,
    client_ip: &str,
) -> Result<Role, ApiError> {
    if !valid_username(&credentials.username) {
        return Err(invalid_username());
    }
    if credentials.password.expose_secret().len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_password",
            format!("passwords have at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let now = now_seconds() as i64;
    let window = state.settings.failure_window.as_secs() as i64;
    let address = format!("ip:{client_ip}");
    let pair = format!("user:{}|ip:{client_ip}", credentials.username);
    let store = &state.store;
    if let Err(wait) = store
        .reserve_attempt(
            &address,
            now,
            window,
            i64::from(state.settings.max_failures_per_address.get()),
        )
        .await?
    {
        return Err(throttled(state, wait));
    }
    let failures = match store
        .reserve_attempt(
            &pair,
            now,
            window,
            i64::from(state.settings.max_failures.get()),
        )
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
        passwords::verify_in(password.expose_secret(), &hash, permit.memory())
    })
    .await
    .unwrap_or(false);
    let succeeded = matches && user.is_some();
    if succeeded {
        store.clear_attempts(&pair).await?;
        store.release_attempt(&address).await?;
    } else {
        let base = state.settings.backoff_base.as_secs() as i64;
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
pub(super) fn access_expiry(state: &AppState, now: i64) -> i64 {
    now + state.issuer.lifetime_seconds() as i64 + 60
}

/// Reads the access-token revocations in force and hands them to this service's verifier.
#[tracing::instrument(skip_all, level = "debug")]
pub async fn sync_revocations(state: &AppState) -> Result<auth_tokens::Revocations, StoreError> {
    let now = now_seconds() as i64;
    let mut revocations = auth_tokens::Revocations::default();
    for (kind, value, _revoked_at) in state.store.access_revocations(now).await? {
        match kind.as_str() {
            "sid" => revocations.revoke_session(&value),
            // Rows of earlier versions, by username: covered by the user's sessions, and
            // never published (a hash of a username names the person).
            "sub" => {}
            other => tracing::warn!(kind = other, "unknown revocation kind ignored"),
        }
    }
    state.verifier.set_revocations(revocations.clone());
    Ok(revocations)
}

#[utoipa::path(post, path = "/login", request_body = Credentials, responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(super) async fn login(
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
pub(super) struct TokenForm {
    grant_type: String,
    username: Option<String>,
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    refresh_token: Option<SecretString>,
}

/// The OAuth2 token endpoint: the password and refresh_token grants, form-encoded.
#[utoipa::path(post, path = "/token", request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(super) async fn token(
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
            Ok(Json(exchange(&state, refresh_token.expose_secret()).await?))
        }
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported (password, refresh_token)"),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct RefreshBody {
    #[schema(value_type = String)]
    refresh_token: SecretString,
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
#[tracing::instrument(skip_all)]
pub(super) async fn refresh(
    State(state): State<SharedState>,
    body: Result<Json<RefreshBody>, JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(body) = body?;
    Ok(Json(
        exchange(&state, body.refresh_token.expose_secret()).await?,
    ))
}

#[utoipa::path(post, path = "/logout", request_body = RefreshBody, responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(super) async fn logout(
    State(state): State<SharedState>,
    body: Result<Json<RefreshBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    let now = now_seconds() as i64;
    if state
        .store
        .revoke_token_family(
            &refresh_hash(body.refresh_token.expose_secret()),
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
#[tracing::instrument(skip_all)]
pub(super) async fn me(Authenticated(claims): Authenticated) -> Json<serde_json::Value> {
    Json(json!({"username": claims.sub, "role": claims.role, "expires_at": claims.exp}))
}

#[utoipa::path(get, path = "/.well-known/jwks.json", responses((status = 200, description = "the public signing keys (JWKS)")))]
pub(super) async fn jwks(State(state): State<SharedState>) -> Json<serde_json::Value> {
    Json(state.jwks.to_json())
}

/// The list this service's verifier enforces, read from memory: kept current by every
/// revocation here and by the 5-second sync (other replicas), so an unauthenticated poll never
/// touches the database.
#[utoipa::path(get, path = "/.well-known/revocations.json", responses((status = 200, description = "access tokens revoked before their expiry, by session (sid: random ids; a deleted user's sessions are all listed, nothing names a person)")))]
pub(super) async fn revocations(
    State(state): State<SharedState>,
) -> Json<auth_tokens::Revocations> {
    Json(state.verifier.revocations())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_pairs_hide_their_tokens_except_in_the_answer() {
        let pair = TokenResponse {
            access_token: SecretString::from("eyJ.access.token"),
            token_type: "bearer",
            expires_in: 900,
            refresh_token: SecretString::from("refresh-secret-0123"),
        };
        let debug = format!("{pair:?}");
        assert!(
            !debug.contains("eyJ.access") && !debug.contains("refresh-secret"),
            "{debug}"
        );
        let json = serde_json::to_value(&pair).unwrap();
        assert_eq!(json["access_token"], "eyJ.access.token");
        assert_eq!(json["refresh_token"], "refresh-secret-0123");
        assert_eq!(json["token_type"], "bearer");
    }
}
