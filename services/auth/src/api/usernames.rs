//! What a username may be: 1 to 64 letters, digits or `. _ - @`, and the answer to one that
//! is not. One rule for creating users and for logging in.

use axum::http::StatusCode;
use http_kit::ApiError;

pub(super) fn invalid_username() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_username",
        "usernames have 1 to 64 letters, digits or . _ - @",
    )
}

pub(super) fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}
