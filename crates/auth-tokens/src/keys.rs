//! Signing keys (RS256 or EdDSA) and the public JWKS.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use serde::Serialize;

const PEM_LABEL: &str = "PRIVATE KEY";

/// The JWS algorithms the fleet signs with. Each key has exactly one, and verification pins
/// it per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys or more). The default: its
    /// verification, which every request pays, is about twice as fast as Ed25519's.
    RS256,
    /// Ed25519: small keys and signatures, faster signing, slower verification.
    EdDSA,
}

impl SigningAlgorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "rs256" => Ok(SigningAlgorithm::RS256),
            "eddsa" | "ed25519" => Ok(SigningAlgorithm::EdDSA),
            _ => Err(format!(
                "unknown algorithm {text:?}: expected RS256 or EdDSA"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {message}", path.display())]
    File {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("invalid signing key: {0}")]
    Invalid(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key with its key id. Parsed once; signing reuses the parsed key.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    private: PrivateKey,
    public_jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .finish()
    }
}

fn invalid(e: impl fmt::Display) -> KeyError {
    KeyError::Invalid(e.to_string())
}

impl SigningKey {
    /// A fresh random key (RSA keys are 2048 bits).
    pub fn generate(algorithm: SigningAlgorithm) -> Result<Self, KeyError> {
        let pkcs8 = match algorithm {
            SigningAlgorithm::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(invalid)?
                .as_der()
                .map_err(invalid)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate()
                .map_err(invalid)?
                .to_pkcs8v1()
                .map_err(invalid)?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8(&pkcs8)
    }

    /// From a PKCS#8 DER document holding an RSA or an Ed25519 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = RsaKeyPair::from_pkcs8(pkcs8) {
            return Ok(Self::from_rsa(pair, pkcs8.to_vec()));
        }
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8))
            .map_err(|_| {
                KeyError::Invalid(
                    "not a PKCS#8 RSA (2048 bits or more) or Ed25519 private key".into(),
                )
            })?;
        Ok(Self::from_ed25519(pair, pkcs8.to_vec()))
    }

    fn from_rsa(pair: RsaKeyPair, pkcs8: Vec<u8>) -> Self {
        let public_jwk = rsa_public_jwk(pair.public_key());
        Self {
            kid: public_jwk.common.key_id.clone().expect("a kid"),
            pkcs8,
            public_jwk,
            private: PrivateKey::Rsa(pair),
        }
    }

    fn from_ed25519(pair: Ed25519KeyPair, pkcs8: Vec<u8>) -> Self {
        let public_jwk = ed25519_public_jwk(pair.public_key().as_ref());
        Self {
            kid: public_jwk.common.key_id.clone().expect("a kid"),
            pkcs8,
            public_jwk,
            private: PrivateKey::Ed25519(pair),
        }
    }

    /// From a PEM file: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey` writes
    /// it for RSA and Ed25519) or PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = pem_block(pem)?;
        if label.contains("RSA PRIVATE KEY") {
            let pair = RsaKeyPair::from_der(&der).map_err(invalid)?;
            let pkcs8 = pair.as_der().map_err(invalid)?.as_ref().to_vec();
            return Ok(Self::from_rsa(pair, pkcs8));
        }
        Self::from_pkcs8(&der)
    }

    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::from_pem(&text).map_err(in_file(path))
    }

    /// The key as PKCS#8 PEM.
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

    pub fn algorithm(&self) -> SigningAlgorithm {
        match self.private {
            PrivateKey::Rsa(_) => SigningAlgorithm::RS256,
            PrivateKey::Ed25519(_) => SigningAlgorithm::EdDSA,
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Jwk {
        self.public_jwk.clone()
    }

    /// A compact JWS of `claims`, with this key's `alg` and `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let header =
            serde_json::json!({"alg": self.algorithm().as_str(), "typ": "JWT", "kid": self.kid});
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = match &self.private {
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(|e| KeyError::Sign(e.to_string()))?;
                signature
            }
            PrivateKey::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// The key id: the RFC 7638 JWK thumbprint (SHA-256 of the key's required members, in
/// lexicographic order, without whitespace; base64url). Derived from the public key alone, so
/// it is stable across restarts, the same wherever the key is loaded from, and what any JOSE
/// library computes for the same key.
fn thumbprint(canonical_members: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical_members.as_bytes(),
    ))
}

/// RFC 7638 section 3.2 for an RSA key; `n` and `e` are already base64url (no escaping needed).
fn rsa_thumbprint(n: &str, e: &str) -> String {
    thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
}

/// RFC 8037 section 2 for an Ed25519 key (`x` base64url).
fn ed25519_thumbprint(x: &str) -> String {
    thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
}

fn public_jwk(kid: String, algorithm: KeyAlgorithm, parameters: AlgorithmParameters) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(algorithm),
            key_id: Some(kid),
            ..Default::default()
        },
        algorithm: parameters,
    }
}

fn rsa_public_jwk(public: &aws_lc_rs::rsa::PublicKey) -> Jwk {
    let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
    public_jwk(
        rsa_thumbprint(&n, &e),
        KeyAlgorithm::RS256,
        AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n,
            e,
        }),
    )
}

fn ed25519_public_jwk(public: &[u8]) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(public);
    public_jwk(
        ed25519_thumbprint(&x),
        KeyAlgorithm::EdDSA,
        AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x,
        }),
    )
}

/// The label and the bytes of the first PEM block.
fn pem_block(pem: &str) -> Result<(String, Vec<u8>), KeyError> {
    let mut lines = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN"));
    let label = lines.next().unwrap_or_default().to_owned();
    let body: String = lines.take_while(|l| !l.starts_with("-----END")).collect();
    if body.is_empty() {
        return Err(KeyError::Invalid("no PEM block found".into()));
    }
    let der = STANDARD
        .decode(body)
        .map_err(|e| KeyError::Invalid(format!("bad PEM base64: {e}")))?;
    Ok((label, der))
}

fn in_file(path: &Path) -> impl FnOnce(KeyError) -> KeyError + '_ {
    move |e| KeyError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

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

    /// One public key in PEM (`-----BEGIN PUBLIC KEY-----`, as `openssl pkey -pubout`
    /// writes it; RSA or Ed25519), with the same `kid` the signing key has.
    pub fn from_public_pem(pem: &str) -> Result<Self, KeyError> {
        let (_, der) = pem_block(pem)?;
        let jwk = if let Some(raw) = der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            if raw.len() != 32 {
                return Err(KeyError::Invalid(
                    "an Ed25519 public key has 32 bytes".into(),
                ));
            }
            ed25519_public_jwk(raw)
        } else {
            let public = aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(|_| {
                KeyError::Invalid("not an RSA or Ed25519 public key (SPKI PEM)".into())
            })?;
            rsa_public_jwk(&public)
        };
        Ok(Self(JwkSet { keys: vec![jwk] }))
    }

    /// A key set from a file: a JWKS document (JSON, as the auth service publishes it) or
    /// one public key in PEM.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if text.trim_start().starts_with('{') {
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| in_file(path)(KeyError::Invalid(format!("bad JWKS: {e}"))))?;
            return Ok(Self(set));
        }
        Self::from_public_pem(&text).map_err(in_file(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 section 3.1's worked example.
    #[test]
    fn rsa_key_ids_are_rfc_7638_thumbprints() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            rsa_thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// RFC 8037 appendix A.3's worked example.
    #[test]
    fn ed25519_key_ids_are_rfc_8037_thumbprints() {
        assert_eq!(
            ed25519_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    /// The kid a generated key carries is the thumbprint of the JWK it publishes.
    #[test]
    fn a_keys_kid_is_the_thumbprint_of_its_published_jwk() {
        for algorithm in [SigningAlgorithm::EdDSA, SigningAlgorithm::RS256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let jwk = key.public_jwk();
            let expected = match &jwk.algorithm {
                AlgorithmParameters::RSA(rsa) => rsa_thumbprint(&rsa.n, &rsa.e),
                AlgorithmParameters::OctetKeyPair(okp) => ed25519_thumbprint(&okp.x),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(key.kid(), expected);
            assert_eq!(jwk.common.key_id.as_deref(), Some(expected.as_str()));
        }
    }
}
