//! Ed25519 signing keys and the public JWKS.

use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

const PEM_LABEL: &str = "PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {message}", path.display())]
    File {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("invalid Ed25519 key: {0}")]
    Invalid(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// An Ed25519 private key with its key id.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, KeyError> {
        let document = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Self::from_pkcs8(document.as_ref())
    }

    /// From a PKCS#8 DER document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8))
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let public = pair.public_key().as_ref().to_vec();
        // The key id is derived from the public key, so it is stable across restarts.
        let kid = artifact_store::dvc::bytes_md5(&public)[..16].to_owned();
        Ok(Self {
            kid,
            pkcs8: pkcs8.to_vec(),
            public,
            encoding: EncodingKey::from_ed_der(pkcs8),
        })
    }

    /// From a PEM file (`-----BEGIN PRIVATE KEY-----`, PKCS#8), as `openssl genpkey
    /// -algorithm ed25519` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        if body.is_empty() {
            return Err(KeyError::Invalid("no PEM block found".into()));
        }
        let der = STANDARD
            .decode(body)
            .map_err(|e| KeyError::Invalid(format!("bad PEM base64: {e}")))?;
        Self::from_pkcs8(&der)
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_pem(&text).map_err(|e| KeyError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn to_pem(&self) -> String {
        let body = STANDARD.encode(&self.pkcs8);
        let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
        pem
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (`kty` OKP, `crv` Ed25519, `alg` EdDSA, `use` sig).
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(&self.public),
            }),
        }
    }

    /// A compact JWS of `claims`, with `alg: EdDSA` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }
}

/// The published key set: every key that may have signed a live token (rotation keeps the
/// previous key here until its tokens expire), one of which signs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Jwks(pub JwkSet);

impl Jwks {
    pub fn of(keys: &[&SigningKey]) -> Self {
        Self(JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).expect("a JWKS serialises")
    }
}
