//! A compact JWS taken apart strictly: three base64url parts, a header whose every member is
//! understood, JSON objects validated in full before anything is read from them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::TokenError;
use crate::SigningAlgorithm;

/// The parts of a compact JWS, with its header decoded.
pub(super) struct ParsedToken<'a> {
    pub(super) algorithm: SigningAlgorithm,
    pub(super) kid: String,
    pub(super) signed: &'a str,
    pub(super) payload: &'a str,
    pub(super) signature: &'a str,
}

/// The header members this verifier understands; any other (`jku`, `jwk`, `x5u`, `x5c`, `cty`,
/// ...) refuses the token: keys come only from the published set, and nothing else in a
/// header is needed to verify an access token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    /// Extensions the token says must be understood; this verifier understands none.
    crit: Option<serde_json::Value>,
}

/// Whether `bytes` are a JSON object, fully validated: UTF-8, escapes (no lone surrogates) and
/// nesting (serde_json's limit of 128) even in members the derived structs would skip, and an
/// object, not an array (which a derived struct also accepts). The structs are then read from
/// the same bytes, which refuses repeated members (a `Value` keeps the last one silently).
pub(super) fn is_strict_json_object(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|value| value.is_object())
}

impl<'a> ParsedToken<'a> {
    /// Splits and reads the header. The `alg` must be one the fleet signs with; which key
    /// may use it is checked against the key itself.
    pub(super) fn parse(token: &'a str) -> Result<Self, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        let header: Header = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .filter(|bytes| is_strict_json_object(bytes))
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        let algorithm = match header.alg.as_deref() {
            Some("RS256") => SigningAlgorithm::RS256,
            Some("EdDSA") => SigningAlgorithm::EdDSA,
            Some(other) => return Err(TokenError::AlgorithmNotAllowed(other.to_owned())),
            None => return Err(TokenError::Malformed),
        };
        if header.crit.is_some() {
            return Err(TokenError::Invalid(
                "the header names critical extensions (crit), which are not supported".into(),
            ));
        }
        match header.typ.as_deref() {
            Some(typ) if typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("at+jwt") => {}
            Some(typ) => {
                return Err(TokenError::Invalid(format!(
                    "token type {typ:?} is not an access token (JWT or at+jwt)"
                )))
            }
            None => {
                return Err(TokenError::Invalid(
                    "the header has no token type (typ); access tokens are typed".into(),
                ))
            }
        }
        Ok(Self {
            algorithm,
            kid: header.kid.ok_or(TokenError::MissingKeyId)?,
            signed,
            payload,
            signature,
        })
    }
}
