//! Strict verification of access tokens against a key set.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

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
    #[error("algorithm {0} is not accepted (only EdDSA)")]
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
}

/// Verifies access tokens; share it across threads (`Arc<Verifier>`).
pub struct Verifier {
    source: KeySource,
    keys: RwLock<HashMap<String, DecodingKey>>,
    validation: Validation,
    http: reqwest::Client,
    last_refresh: Mutex<Option<Instant>>,
    leeway_seconds: u64,
    /// Tokens whose signature, issuer and audience were verified, with their claims. Tokens
    /// are immutable, so only the time claims need checking again on a hit.
    verified: RwLock<HashMap<String, Claims>>,
}

/// Keeps only Ed25519 keys with a key id; the algorithm is pinned to EdDSA for each.
fn decoding_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        match ed25519_key(jwk) {
            Some((kid, key)) => {
                keys.insert(kid, key);
            }
            None => {
                tracing::warn!(kid = ?jwk.common.key_id, "ignoring a JWK that is not an Ed25519 EdDSA key")
            }
        }
    }
    keys
}

fn ed25519_key(jwk: &Jwk) -> Option<(String, DecodingKey)> {
    let kid = jwk.common.key_id.clone()?;
    let algorithm_ok = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::EdDSA));
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(params)
            if algorithm_ok && params.curve == EllipticCurve::Ed25519 =>
        {
            DecodingKey::from_ed_components(&params.x)
                .ok()
                .map(|key| (kid, key))
        }
        _ => None,
    }
}

impl Verifier {
    /// A verifier for `source`. With a URL, the key set is fetched now; if that fails the
    /// verifier starts empty and fetches on first use.
    pub async fn new(config: VerifierConfig, source: KeySource) -> Result<Self, TokenError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = config.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.required_spec_claims = ["exp", "nbf", "iat", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TokenError::KeySet(e.to_string()))?;
        let initial = match &source {
            KeySource::Static(jwks) => decoding_keys(&jwks.0),
            KeySource::Url(_) => HashMap::new(),
        };
        let verifier = Self {
            source,
            keys: RwLock::new(initial),
            validation,
            http,
            last_refresh: Mutex::new(None),
            leeway_seconds: config.leeway_seconds,
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
        let kid = self.key_id(token)?;
        if self.keys.read().expect("key lock").get(&kid).is_none() {
            self.refresh_if_allowed().await;
        }
        self.verify_with_known_keys(token)
    }

    /// Verifies a token against the keys already known (no network).
    pub fn verify_with_known_keys(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.read().expect("cache lock").get(token) {
            return self.check_times(claims);
        }
        let claims = self.verify_signature_and_claims(token)?;
        let mut cache = self.verified.write().expect("cache lock");
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn check_times(&self, claims: &Claims) -> Result<Claims, TokenError> {
        let now = crate::now_seconds();
        if now > claims.exp + self.leeway_seconds {
            Err(TokenError::Expired)
        } else if now + self.leeway_seconds < claims.nbf {
            Err(TokenError::NotYetValid)
        } else {
            Ok(claims.clone())
        }
    }

    fn verify_signature_and_claims(&self, token: &str) -> Result<Claims, TokenError> {
        let kid = self.key_id(token)?;
        let keys = self.keys.read().expect("key lock");
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                other => TokenError::Invalid(format!("{other:?}")),
            })
    }

    /// The header's key id, after pinning the algorithm. The `alg` is read from the raw
    /// header first, so `none` and algorithms the JWT library does not know are named.
    fn key_id(&self, token: &str) -> Result<String, TokenError> {
        let raw_header = token.split('.').next().unwrap_or_default();
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(raw_header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        match header["alg"].as_str() {
            Some("EdDSA") => {}
            Some(other) => return Err(TokenError::AlgorithmNotAllowed(other.to_owned())),
            None => return Err(TokenError::Malformed),
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        header.kid.ok_or(TokenError::MissingKeyId)
    }

    /// Fetches the key set again for an unknown key id, unless such a fetch happened very
    /// recently.
    async fn refresh_if_allowed(&self) {
        if !matches!(self.source, KeySource::Url(_)) {
            return;
        }
        {
            let last = self.last_refresh.lock().await;
            if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
                return;
            }
        }
        *self.last_refresh.lock().await = Some(Instant::now());
        if let Err(e) = self.refresh().await {
            tracing::warn!("cannot refresh the key set: {e}");
        }
    }

    /// Downloads the key set from the JWKS URL and replaces the known keys.
    pub async fn refresh(&self) -> Result<usize, TokenError> {
        let KeySource::Url(url) = &self.source else {
            return Ok(self.keys.read().expect("key lock").len());
        };
        let set: JwkSet = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| TokenError::KeySet(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenError::KeySet(e.to_string()))?;
        let keys = decoding_keys(&set);
        let count = keys.len();
        *self.keys.write().expect("key lock") = keys;
        // A key may have been withdrawn: its tokens must be checked again.
        self.verified.write().expect("cache lock").clear();
        tracing::info!(%url, keys = count, "key set refreshed");
        Ok(count)
    }
}
