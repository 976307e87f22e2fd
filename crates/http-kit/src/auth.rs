use std::sync::Arc;

use auth_tokens::{Claims, Role, Verifier};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::ApiError;

/// A service state that verifies access tokens.
pub trait VerifierState: Send + Sync + 'static {
    fn verifier(&self) -> &Verifier;
}

/// The verified claims of the request's `Authorization: Bearer` token; 401 otherwise.
pub struct Authenticated(pub Claims);

impl<S: VerifierState> FromRequestParts<Arc<S>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("expected an Authorization: Bearer token"))?;
        let claims = state
            .verifier()
            .verify(token.trim())
            .await
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        // The body, read after this, counts against this user's share of the budget.
        if let Some(owner) = parts.extensions.get::<crate::BodyOwner>() {
            owner.set(&claims.sub);
        }
        Ok(Authenticated(claims))
    }
}

impl Authenticated {
    /// 403 unless the token carries one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Claims, ApiError> {
        if roles.contains(&self.0.role) {
            return Ok(&self.0);
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "this needs the {} role",
            names.join(" or ")
        )))
    }

    pub fn require_admin(&self) -> Result<&Claims, ApiError> {
        self.require(&[Role::Admin])
    }

    pub fn username(&self) -> &str {
        &self.0.sub
    }
}
