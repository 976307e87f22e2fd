//! The admin's user management: create, list, delete.

use auth_tokens::{now_seconds, Role};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use http_kit::{ApiError, Authenticated, ErrorBody};

use super::sessions::{access_expiry, sync_revocations};
use super::usernames::{invalid_username, valid_username};
use super::SharedState;
use secrecy::{ExposeSecret, SecretString};

use crate::passwords;
use crate::store::{Store, StoreError, User};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewUser {
    username: String,
    // A secret from the moment it is read.
    #[schema(value_type = String)]
    password: SecretString,
    /// `admin` or `clinician`.
    #[schema(value_type = String)]
    role: Role,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct UserView {
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

/// Creates a user (already validated), hashing the password off the async threads.
#[tracing::instrument(skip_all)]
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, StoreError> {
    let password = SecretString::from(password);
    let password_hash =
        tokio::task::spawn_blocking(move || passwords::hash(password.expose_secret()))
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
#[tracing::instrument(skip_all)]
pub(super) async fn create_user(
    State(state): State<SharedState>,
    caller: Authenticated,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    caller.require_admin()?;
    let Json(new) = body?;
    if !valid_username(&new.username) {
        return Err(invalid_username());
    }
    if let Some(violation) = passwords::policy_violation(new.password.expose_secret()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            violation,
        ));
    }
    let user = add_user(
        &state.store,
        &new.username,
        new.password.expose_secret(),
        new.role,
    )
    .await?;
    tracing::info!(by = %caller.0.sub, username = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/users", responses((status = 200, body = [UserView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(super) async fn list_users(
    State(state): State<SharedState>,
    caller: Authenticated,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require_admin()?;
    let users = state.store.users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[utoipa::path(delete, path = "/users/{username}", params(("username" = String, Path)), responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(super) async fn delete_user(
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
