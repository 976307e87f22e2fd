//! Access tokens for the fleet.
//!
//! The auth service signs short-lived JWTs with an RSA (`RS256`, the default) or Ed25519
//! (`EdDSA`) key ([`SigningKey`], key id `kid`) and publishes the public keys as a JWKS
//! ([`Jwks`]). Every protected service verifies them with a [`Verifier`] built on the same
//! rules (RFC 8725):
//! * the algorithm is pinned per key, never taken from the token: `none`, `HS256` signed
//!   with the public key, a token of one algorithm naming a key of the other, and any other
//!   algorithm are rejected;
//! * the token must name a `kid`; an unknown `kid` refreshes the key set once (when it comes
//!   from a JWKS URL), so key rotation needs no restart;
//! * `exp` and `nbf` are checked with a small leeway, `iss` and `aud` must match, and
//!   `sub`, `role`, `iat`, `jti` must be present; a token living longer than the configured
//!   maximum is refused, and so are headers with `crit` or a `typ` other than JWT/at+jwt;
//! * key sets and revocation lists are fetched one at a time and capped at 256 KiB;
//! * a token of a revoked session or user ([`Revocations`]) is refused before it expires.
//!
//! Keys are parsed once (aws-lc), so a verification costs one signature check and two small
//! JSON documents.

mod keys;
mod revocations;
mod verify;

pub use keys::{Jwks, KeyError, SigningAlgorithm, SigningKey};
pub use revocations::Revocations;
pub use verify::{
    KeySource, TokenError, Verifier, VerifierConfig, DEFAULT_LEEWAY_SECONDS,
    DEFAULT_MAX_LIFETIME_SECONDS,
};

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Creates users, reloads models, reads audit logs; also predicts.
    Admin,
    /// Requests predictions.
    Clinician,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "clinician" => Some(Role::Clinician),
            _ => None,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The username.
    pub sub: String,
    pub role: Role,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires at.
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// Unique token id.
    pub jti: String,
    /// The login session (refresh-token family) the token belongs to; revoking the session
    /// revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

pub use clock::now_seconds;

/// Signs access tokens.
pub struct Issuer {
    key: SigningKey,
    issuer: String,
    audience: String,
    lifetime_seconds: u64,
}

impl Issuer {
    pub fn new(key: SigningKey, issuer: &str, audience: &str, lifetime_seconds: u64) -> Self {
        Self {
            key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime_seconds,
        }
    }

    pub fn lifetime_seconds(&self) -> u64 {
        self.lifetime_seconds
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// A signed token for `username` with `role`, valid from now for the configured lifetime.
    pub fn issue(&self, username: &str, role: Role) -> Result<(String, Claims), KeyError> {
        self.issue_in_session(username, role, None)
    }

    /// [`Issuer::issue`] for a login session (`sid`), which revoking the session revokes.
    pub fn issue_in_session(
        &self,
        username: &str,
        role: Role,
        sid: Option<&str>,
    ) -> Result<(String, Claims), KeyError> {
        let now = now_seconds();
        let claims = Claims {
            sub: username.to_owned(),
            role,
            iat: now,
            nbf: now,
            exp: now + self.lifetime_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: random_id(),
            sid: sid.map(str::to_owned),
        };
        Ok((self.key.sign(&claims)?, claims))
    }
}

/// The issuer and audience the auth service and its verifiers agree on unless configured.
pub const DEFAULT_ISSUER: &str = "seizure-ops-auth";
pub const DEFAULT_AUDIENCE: &str = "seizure-ops";

/// The `iss` and `aud` claims the auth service signs and its verifiers require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAudience {
    pub issuer: String,
    pub audience: String,
}

impl Default for TokenAudience {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
        }
    }
}

/// 128 random bits as 32 hex characters.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
