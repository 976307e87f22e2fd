//! The published key set as the verifier keeps it: RSA (RS256) and Ed25519 (EdDSA) keys with
//! a key id, each pinned to its one algorithm; any other key is left out.

use std::collections::HashMap;

use aws_lc_rs::signature::{
    ParsedPublicKey, RsaPublicKeyComponents, ED25519, RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};

use crate::SigningAlgorithm;

/// A public key with the one algorithm it verifies.
pub(super) struct VerifyingKey {
    pub(super) algorithm: SigningAlgorithm,
    pub(super) key: ParsedPublicKey,
}

/// Keeps only RSA (RS256) and Ed25519 (EdDSA) keys with a key id, each pinned to its algorithm.
pub(super) fn verifying_keys(set: &JwkSet) -> HashMap<String, VerifyingKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        match verifying_key(jwk) {
            Some((kid, key)) => {
                keys.insert(kid, key);
            }
            None => tracing::warn!(
                kid = ?jwk.common.key_id,
                "ignoring a JWK that is neither an RS256 RSA key nor an EdDSA Ed25519 key with a kid"
            ),
        }
    }
    keys
}

fn verifying_key(jwk: &Jwk) -> Option<(String, VerifyingKey)> {
    let kid = jwk.common.key_id.clone()?;
    let declared = jwk.common.key_algorithm;
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
    let (algorithm, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(params)
            if matches!(declared, None | Some(KeyAlgorithm::RS256)) =>
        {
            let components = RsaPublicKeyComponents {
                n: decode(&params.n)?,
                e: decode(&params.e)?,
            };
            let key = components
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .ok()?;
            (SigningAlgorithm::RS256, key)
        }
        AlgorithmParameters::OctetKeyPair(params)
            if matches!(declared, None | Some(KeyAlgorithm::EdDSA))
                && params.curve == EllipticCurve::Ed25519 =>
        {
            let key = ParsedPublicKey::new(&ED25519, decode(&params.x)?).ok()?;
            (SigningAlgorithm::EdDSA, key)
        }
        _ => return None,
    };
    Some((kid, VerifyingKey { algorithm, key }))
}
