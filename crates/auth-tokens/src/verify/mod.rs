//! Strict verification of access tokens against a key set.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

mod compact;
mod jwk;

use compact::{is_strict_json_object, ParsedToken};
use jwk::{verifying_keys, VerifyingKey};

use crate::revocations::Revocations;
use crate::{Claims, Jwks};

/// Verified tokens remembered, so a client's repeated token skips the signature check.
const CACHE_CAPACITY: usize = 10_000;

/// The shortest interval between two JWKS downloads, so tokens with made-up key ids cannot
/// make every request fetch the key set.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted (only RS256 and EdDSA, as each key declares)")]
    AlgorithmNotAllowed(String),
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another audience")]
    WrongAudience,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("cannot fetch the key set: {0}")]
    KeySet(String),
    #[error("the token has been revoked")]
    Revoked,
}

/// Where the verifier gets its public keys.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fixed key set (a key file, or tests).
    Static(Jwks),
    /// The auth service's `/.well-known/jwks.json`, fetched at start and again on an unknown
    /// key id.
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// Tokens living longer (`exp - iat`), or expiring further ahead, are refused: a leaked
    /// signing key or a misconfigured issuer cannot mint tokens that never expire.
    pub max_lifetime_seconds: u64,
}

/// The longest access-token lifetime verifiers accept unless configured (the auth service
/// issues 15-minute tokens by default).
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 3600;

/// Clock skew the services tolerate on `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;

impl VerifierConfig {
    /// The services' verification of tokens for `audience`: the default leeway and longest
    /// lifetime.
    pub fn for_audience(audience: crate::TokenAudience) -> Self {
        Self {
            issuer: audience.issuer,
            audience: audience.audience,
            leeway_seconds: DEFAULT_LEEWAY_SECONDS,
            max_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
        }
    }
}

/// The largest key set accepted from the network.
const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// The largest revocation list accepted: about 400,000 revoked sessions. A list that grows
/// past it (logins and logouts in a loop, say) fails loudly at every poll.
const MAX_REVOCATION_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Verifies access tokens; share it across threads (`Arc<Verifier>`).
pub struct Verifier {
    source: KeySource,
    keys: RwLock<HashMap<String, VerifyingKey>>,
    config: VerifierConfig,
    http: reqwest::Client,
    /// Held while the key set is fetched, so concurrent unknown key ids cause one fetch.
    last_refresh: Mutex<Option<Instant>>,
    revocations: RwLock<Revocations>,
    /// Tokens whose signature, issuer and audience were verified, with their claims. Tokens
    /// are immutable, so only the time claims need checking again on a hit.
    verified: RwLock<HashMap<String, Claims>>,
}

impl Verifier {
    /// A verifier for `source`. With a URL, the key set is fetched now; if that fails the
    /// verifier starts empty and fetches on first use.
    pub async fn new(config: VerifierConfig, source: KeySource) -> Result<Self, TokenError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TokenError::KeySet(e.to_string()))?;
        let initial = match &source {
            KeySource::Static(jwks) => verifying_keys(&jwks.0),
            KeySource::Url(_) => HashMap::new(),
        };
        let verifier = Self {
            source,
            keys: RwLock::new(initial),
            config,
            http,
            last_refresh: Mutex::new(None),
            revocations: RwLock::new(Revocations::default()),
            verified: RwLock::new(HashMap::new()),
        };
        if let KeySource::Url(url) = &verifier.source {
            if let Err(e) = verifier.refresh().await {
                tracing::warn!(%url, "cannot fetch the key set yet: {e}");
            }
        }
        Ok(verifier)
    }

    /// Verifies a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.remembered(token) {
            return self.check_times(claims).and_then(|c| self.check_revoked(c));
        }
        let parsed = ParsedToken::parse(token)?;
        if !self
            .keys
            .read()
            .expect("key lock")
            .contains_key(&parsed.kid)
        {
            self.refresh_if_allowed().await;
        }
        self.verify_parsed(token, &parsed)
    }

    /// Verifies a token against the keys already known (no network).
    pub fn verify_with_known_keys(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.remembered(token) {
            return self.check_times(claims).and_then(|c| self.check_revoked(c));
        }
        self.verify_parsed(token, &ParsedToken::parse(token)?)
    }

    /// Replaces the revocation list (from the auth service's
    /// `/.well-known/revocations.json`, or the auth service's own database).
    pub fn set_revocations(&self, revocations: Revocations) {
        *self.revocations.write().expect("revocation lock") = revocations;
    }

    /// The revocation list in force.
    pub fn revocations(&self) -> Revocations {
        self.revocations.read().expect("revocation lock").clone()
    }

    /// Whether the revocation list in force revokes `claims` (for connections that outlive
    /// the request their token was checked on).
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        self.revocations
            .read()
            .expect("revocation lock")
            .revokes(claims)
    }

    /// Whether the login session `sid` was revoked (for what outlives its requests: a
    /// monitoring session opened in that login).
    pub fn is_session_revoked(&self, sid: &str) -> bool {
        self.revocations
            .read()
            .expect("revocation lock")
            .revokes_session(sid)
    }

    fn check_revoked(&self, claims: Claims) -> Result<Claims, TokenError> {
        if self.is_revoked(&claims) {
            Err(TokenError::Revoked)
        } else {
            Ok(claims)
        }
    }

    /// Downloads a revocation list and applies it.
    pub async fn fetch_revocations(&self, url: &str) -> Result<usize, TokenError> {
        let body = fetch_capped(&self.http, url, MAX_REVOCATION_LIST_BYTES).await?;
        let revocations: Revocations = serde_json::from_slice(&body)
            .map_err(|e| TokenError::KeySet(format!("revocation list: {e}")))?;
        let count = revocations.len();
        self.set_revocations(revocations);
        Ok(count)
    }

    fn remembered(&self, token: &str) -> Option<Claims> {
        self.verified
            .read()
            .expect("cache lock")
            .get(token)
            .cloned()
    }

    fn verify_parsed(&self, token: &str, parsed: &ParsedToken) -> Result<Claims, TokenError> {
        let claims = self.verify_signature_and_claims(parsed)?;
        let claims = self.check_revoked(claims)?;
        let mut cache = self.verified.write().expect("cache lock");
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn check_times(&self, claims: Claims) -> Result<Claims, TokenError> {
        let now = crate::now_seconds();
        let leeway = self.config.leeway_seconds;
        if now > claims.exp.saturating_add(leeway) {
            Err(TokenError::Expired)
        } else if now.saturating_add(leeway) < claims.nbf {
            Err(TokenError::NotYetValid)
        } else {
            Ok(claims)
        }
    }

    /// The signature first (with the algorithm pinned by the key), then the claims.
    fn verify_signature_and_claims(&self, parsed: &ParsedToken) -> Result<Claims, TokenError> {
        {
            let keys = self.keys.read().expect("key lock");
            let key = keys.get(&parsed.kid).ok_or(TokenError::UnknownKey)?;
            if key.algorithm != parsed.algorithm {
                return Err(TokenError::AlgorithmNotAllowed(format!(
                    "{} for a {} key",
                    parsed.algorithm, key.algorithm
                )));
            }
            let signature = URL_SAFE_NO_PAD
                .decode(parsed.signature)
                .map_err(|_| TokenError::Malformed)?;
            key.key
                .verify_sig(parsed.signed.as_bytes(), &signature)
                .map_err(|_| TokenError::BadSignature)?;
        }
        let payload = URL_SAFE_NO_PAD
            .decode(parsed.payload)
            .map_err(|_| TokenError::Malformed)?;
        if !is_strict_json_object(&payload) {
            return Err(TokenError::Invalid(
                "claims: not a well-formed JSON object".into(),
            ));
        }
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::Invalid(format!("claims: {e}")))?;
        let claims = self.check_times(claims)?;
        let max = self.config.max_lifetime_seconds;
        let now = crate::now_seconds();
        if claims.iat > now.saturating_add(self.config.leeway_seconds) {
            return Err(TokenError::Invalid(
                "the token was issued in the future".into(),
            ));
        }
        if claims.exp.saturating_sub(claims.iat) > max
            || claims.exp > now.saturating_add(max + self.config.leeway_seconds)
        {
            return Err(TokenError::Invalid(format!(
                "the token lives longer than the accepted maximum of {max} s"
            )));
        }
        if claims.iss != self.config.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != self.config.audience {
            return Err(TokenError::WrongAudience);
        }
        Ok(claims)
    }

    /// Fetches the key set again for an unknown key id, unless such a fetch happened very
    /// recently. One fetch at a time: callers arriving meanwhile wait for it, then find it
    /// recent.
    async fn refresh_if_allowed(&self) {
        if !matches!(self.source, KeySource::Url(_)) {
            return;
        }
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.refresh().await {
            tracing::warn!("cannot refresh the key set: {e}");
        }
    }

    /// Downloads the key set from the JWKS URL (at most 256 KiB) and replaces the known keys.
    pub async fn refresh(&self) -> Result<usize, TokenError> {
        let KeySource::Url(url) = &self.source else {
            return Ok(self.keys.read().expect("key lock").len());
        };
        let body = fetch_capped(&self.http, url, MAX_KEY_SET_BYTES).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| TokenError::KeySet(e.to_string()))?;
        let keys = verifying_keys(&set);
        let count = keys.len();
        *self.keys.write().expect("key lock") = keys;
        // A key may have been withdrawn: its tokens must be checked again.
        self.verified.write().expect("cache lock").clear();
        tracing::info!(%url, keys = count, "key set refreshed");
        Ok(count)
    }
}

/// GETs `url`, refusing a body over `cap` bytes (announced or streamed).
async fn fetch_capped(
    http: &reqwest::Client,
    url: &str,
    cap: usize,
) -> Result<Vec<u8>, TokenError> {
    let fail = |e: String| TokenError::KeySet(format!("{url}: {e}"));
    let mut response = http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| fail(e.to_string()))?;
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(fail(format!("larger than {cap} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > cap {
            return Err(fail(format!("larger than {cap} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
