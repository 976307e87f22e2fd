//! Conformance of the hand-written verifier (`src/verify.rs`) against `jsonwebtoken::decode`.
//!
//! The hand-written verification stays only if it rejects everything jsonwebtoken's `decode`
//! rejects, and more. Every hostile token below goes to both:
//! * ours: a [`Verifier`] over a static key set holding one published key (RS256 or EdDSA),
//!   leeway 30 s, the default maximum lifetime, and a revocation list (one session, one user);
//! * jsonwebtoken: `decode::<serde_json::Value>` with that key's public half and a
//!   [`Validation`] configured as strictly as jsonwebtoken allows for the same policy: the
//!   key's algorithm only, the same issuer, audience and leeway, `exp` and `nbf` validated,
//!   and `exp`, `nbf`, `iss`, `aud`, `sub` required. jsonwebtoken has no key lookup by `kid`:
//!   it is handed the published key whatever the token's header says.
//!
//! The tables:
//! 1. [`accepted_by_both`]: well-formed tokens both accept. It proves the two are configured
//!    alike, so every rejection below comes from the one thing each case changes.
//! 2. [`rejected_by_both`]: hostile and malformed tokens. jsonwebtoken must reject each (or
//!    the case is not evidence) and so must we.
//! 3. [`rejected_only_by_us`]: tokens jsonwebtoken accepts and we refuse: the "and more".
//!    Its last part, [`strict_json`], holds what once was a gap (jsonwebtoken refused, we
//!    accepted: mistyped registered header members, arrays for objects, deep nesting, lone
//!    surrogates, invalid UTF-8 in ignored members); `verify.rs` now validates header and
//!    payload as JSON objects and accepts only the header members it needs.
//!
//! Tokens are forged from raw JSON text (so duplicate members and invalid bytes survive) and
//! signed with jsonwebtoken's signer (`jsonwebtoken::crypto::sign`, aws-lc), which can also
//! produce the algorithms the fleet never uses (RS384, PS256, HS256...).

mod common;

use common::{jwt_algorithm, other_algorithm};
use std::collections::HashSet;

use auth_tokens::{
    now_seconds, Jwks, KeySource, Revocations, SigningAlgorithm, SigningKey, TokenError, Verifier,
    VerifierConfig, DEFAULT_MAX_LIFETIME_SECONDS,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{json, Value};

const ISSUER: &str = "seizure-ops-auth";
const AUDIENCE: &str = "seizure-ops";
const LEEWAY: u64 = 30;
/// In the verifier's revocation list.
const REVOKED_SESSION: &str = "family-revoked";
/// In the verifier's revocation list: tokens issued up to the fixture's creation.
const DELETED_USER: &str = "deleted-user";
/// The deleted user's session, listed when the user was deleted.
const DELETED_USERS_SESSION: &str = "family-of-the-deleted-user";
/// Nesting deeper than serde_json's recursion limit (128).
const DEEP: usize = 200;
const ONE_MB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// The two verifiers, configured alike.
// ---------------------------------------------------------------------------------------

struct Fixture {
    alg: SigningAlgorithm,
    /// The one published key.
    key: SigningKey,
    /// An attacker's key of the same algorithm, never published.
    stranger: SigningKey,
    /// `key`, `stranger`, and an attacker's key of the other fleet algorithm (never
    /// published), as jsonwebtoken signers.
    signer: EncodingKey,
    stranger_signer: EncodingKey,
    other_signer: EncodingKey,
    verifier: Verifier,
    decoding_key: DecodingKey,
    validation: Validation,
    /// When the fixture was made; every token's times are relative to it.
    now: u64,
}

impl Fixture {
    async fn new(alg: SigningAlgorithm) -> Self {
        let key = SigningKey::generate(alg).unwrap();
        let stranger = SigningKey::generate(alg).unwrap();
        let other = SigningKey::generate(other_algorithm(alg)).unwrap();
        let verifier = Verifier::new(
            VerifierConfig {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                leeway_seconds: LEEWAY,
                max_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
            },
            KeySource::Static(Jwks::of(&[&key])),
        )
        .await
        .unwrap();
        let now = now_seconds();
        let mut revocations = Revocations::default();
        revocations.revoke_session(REVOKED_SESSION);
        revocations.revoke_session(DELETED_USERS_SESSION);
        verifier.set_revocations(revocations);

        let mut validation = Validation::new(jwt_algorithm(alg));
        validation.leeway = LEEWAY;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);

        let decoding_key = DecodingKey::from_jwk(&key.public_jwk()).unwrap();
        let signer = encoding_key(&key);
        let stranger_signer = encoding_key(&stranger);
        let other_signer = encoding_key(&other);
        Self {
            alg,
            key,
            stranger,
            signer,
            stranger_signer,
            other_signer,
            verifier,
            decoding_key,
            validation,
            now,
        }
    }

    async fn ours(&self, token: &str) -> Result<auth_tokens::Claims, TokenError> {
        self.verifier.verify(token).await
    }

    fn jsonwebtoken(&self, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Value>(token, &self.decoding_key, &self.validation)
            .map(|data| data.claims)
    }

    /// The header the auth service writes.
    fn header(&self) -> Value {
        json!({"alg": self.alg.as_str(), "typ": "JWT", "kid": self.key.kid()})
    }

    /// Claims the auth service could have issued just now.
    fn claims(&self) -> Value {
        json!({
            "sub": "ada",
            "role": "clinician",
            "iat": self.now,
            "nbf": self.now,
            "exp": self.now + 900,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": "conformance-1",
        })
    }

    /// [`Fixture::claims`] with `iat`, `nbf` and `exp` this many seconds from now.
    fn claims_at(&self, iat: i64, nbf: i64, exp: i64) -> Value {
        with(
            self.claims(),
            json!({"iat": self.at(iat), "nbf": self.at(nbf), "exp": self.at(exp)}),
        )
    }

    fn at(&self, offset: i64) -> u64 {
        self.now
            .checked_add_signed(offset)
            .expect("a time after the epoch")
    }

    /// A token of this header and these claims, signed by the published key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(header.to_string(), claims.to_string())
    }

    /// A token of these exact header and payload bytes, signed by the published key.
    fn sign_raw(&self, header: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> String {
        forge(header, payload, &self.signer, jwt_algorithm(self.alg))
    }

    /// `header.payload.signature` with the two segments taken as they are (not encoded), the
    /// signature by the published key over them: for segments that are not base64url.
    fn sign_segments(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.signer, jwt_algorithm(self.alg))
                .expect("jsonwebtoken signs");
        format!("{input}.{signature}")
    }

    /// The token the auth service would issue, every case's starting point.
    fn good(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }

    /// `key`'s public half as JSON (its JWK, with `kid`).
    fn public_jwk(&self, key: &SigningKey) -> Value {
        serde_json::to_value(key.public_jwk()).unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Forging helpers.
// ---------------------------------------------------------------------------------------

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .expect("a base64url segment")
}

/// `b64(header).b64(payload).signature` with `signer` under `alg` (any JWS algorithm
/// jsonwebtoken implements, whatever the header claims).
fn forge(
    header: impl AsRef<[u8]>,
    payload: impl AsRef<[u8]>,
    signer: &EncodingKey,
    alg: Algorithm,
) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), signer, alg).expect("jsonwebtoken signs");
    format!("{input}.{signature}")
}

/// The three segments of a compact token.
fn segments(token: &str) -> (String, String, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a three-segment token");
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    )
}

/// `value` (an object) with the members of `changes` set.
fn with(mut value: Value, changes: Value) -> Value {
    let Value::Object(changes) = changes else {
        panic!("changes are a JSON object")
    };
    for (name, change) in changes {
        value[name.as_str()] = change;
    }
    value
}

/// `value` (an object) without member `name`.
fn without(mut value: Value, name: &str) -> Value {
    value.as_object_mut().expect("a JSON object").remove(name);
    value
}

/// `value` (a non-empty object) as JSON text with `members` (raw JSON text ending in a comma,
/// e.g. `"exp":1,`) put first: for duplicate members and bytes a `Value` cannot hold.
fn prefixed(value: &Value, members: impl AsRef<[u8]>) -> Vec<u8> {
    let text = value.to_string();
    assert!(
        text.starts_with('{') && text.len() > 2,
        "a non-empty object"
    );
    let mut out = b"{".to_vec();
    out.extend_from_slice(members.as_ref());
    out.extend_from_slice(&text.as_bytes()[1..]);
    out
}

/// `depth` nested empty JSON arrays.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The same base64url segment with a bit set among the unused low bits of its last character:
/// it decodes to the same bytes in a lax decoder, and is not canonical.
fn non_canonical(segment: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert!(
        matches!(segment.len() % 4, 2 | 3),
        "the last character of a segment of {} characters has no unused bits",
        segment.len()
    );
    let last = *segment.as_bytes().last().unwrap();
    let value = ALPHABET.iter().position(|&c| c == last).unwrap();
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(ALPHABET[value ^ 1] as char);
    out
}

/// The same key as a jsonwebtoken signer.
fn encoding_key(key: &SigningKey) -> EncodingKey {
    match key.algorithm() {
        SigningAlgorithm::RS256 => EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap(),
        SigningAlgorithm::EdDSA => EncodingKey::from_ed_pem(key.to_pem().as_bytes()).unwrap(),
    }
}

/// At most 200 characters of `text`, for messages about megabyte tokens.
fn short(text: String) -> String {
    if text.chars().count() <= 200 {
        text
    } else {
        format!(
            "{}... (truncated)",
            text.chars().take(200).collect::<String>()
        )
    }
}

// ---------------------------------------------------------------------------------------
// Cases, and why our verifier must refuse them.
// ---------------------------------------------------------------------------------------

/// One token, named for the messages.
struct Case {
    name: String,
    token: String,
    /// The reason our verifier must give, where it matters; `None`: any rejection.
    ours: Option<fn(&TokenError) -> bool>,
}

impl Case {
    fn new(name: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            token: token.into(),
            ours: None,
        }
    }

    fn because(mut self, reason: fn(&TokenError) -> bool) -> Self {
        self.ours = Some(reason);
        self
    }
}

fn malformed(e: &TokenError) -> bool {
    matches!(e, TokenError::Malformed)
}
fn algorithm_not_allowed(e: &TokenError) -> bool {
    matches!(e, TokenError::AlgorithmNotAllowed(_))
}
fn missing_key_id(e: &TokenError) -> bool {
    matches!(e, TokenError::MissingKeyId)
}
fn unknown_key(e: &TokenError) -> bool {
    matches!(e, TokenError::UnknownKey)
}
fn bad_signature(e: &TokenError) -> bool {
    matches!(e, TokenError::BadSignature)
}
fn expired(e: &TokenError) -> bool {
    matches!(e, TokenError::Expired)
}
fn not_yet_valid(e: &TokenError) -> bool {
    matches!(e, TokenError::NotYetValid)
}
fn wrong_issuer(e: &TokenError) -> bool {
    matches!(e, TokenError::WrongIssuer)
}
fn wrong_audience(e: &TokenError) -> bool {
    matches!(e, TokenError::WrongAudience)
}
fn revoked(e: &TokenError) -> bool {
    matches!(e, TokenError::Revoked)
}
/// The payload does not deserialise into [`auth_tokens::Claims`].
fn invalid_claims(e: &TokenError) -> bool {
    matches!(e, TokenError::Invalid(m) if m.starts_with("claims:"))
}
fn critical_extension(e: &TokenError) -> bool {
    matches!(e, TokenError::Invalid(m) if m.contains("(crit)"))
}
fn not_an_access_token_type(e: &TokenError) -> bool {
    matches!(e, TokenError::Invalid(m) if m.contains("token type"))
}
fn lives_too_long(e: &TokenError) -> bool {
    matches!(e, TokenError::Invalid(m) if m.contains("lives longer than"))
}
fn issued_in_the_future(e: &TokenError) -> bool {
    matches!(e, TokenError::Invalid(m) if m.contains("issued in the future"))
}

// ---------------------------------------------------------------------------------------
// Table 1: accepted by both.
// ---------------------------------------------------------------------------------------

fn accepted_by_both(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let max = DEFAULT_MAX_LIFETIME_SECONDS as i64;
    vec![
        Case::new(
            "as the auth service signs it (SigningKey::sign)",
            f.key.sign(&claims).unwrap(),
        ),
        Case::new(
            "forged by this suite with the same header and claims",
            f.good(),
        ),
        Case::new(
            "typ at+jwt",
            f.sign(&with(header.clone(), json!({"typ": "at+jwt"})), &claims),
        ),
        Case::new(
            "typ in lower case (jwt)",
            f.sign(&with(header.clone(), json!({"typ": "jwt"})), &claims),
        ),
        Case::new(
            "crit null (absent)",
            f.sign(&with(header.clone(), json!({"crit": null})), &claims),
        ),
        Case::new(
            "whitespace inside the header and payload JSON",
            f.sign_raw(
                serde_json::to_string_pretty(&header).unwrap(),
                serde_json::to_string_pretty(&claims).unwrap(),
            ),
        ),
        Case::new(
            "expired 10 s ago, within the 30 s leeway",
            f.sign(&header, &f.claims_at(-900, -900, -10)),
        ),
        Case::new(
            "valid in 10 s, within the 30 s leeway",
            f.sign(&header, &f.claims_at(0, 10, 900)),
        ),
        Case::new(
            "living exactly the maximum lifetime",
            f.sign(&header, &f.claims_at(0, 0, max)),
        ),
        Case::new(
            "a live session (sid not revoked)",
            f.sign(
                &header,
                &with(claims.clone(), json!({"sid": "family-live"})),
            ),
        ),
        Case::new(
            "a claim this verifier does not know",
            f.sign(&header, &with(claims.clone(), json!({"scope": "predict"}))),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Table 2: rejected by both.
// ---------------------------------------------------------------------------------------

fn rejected_by_both(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(tampered_signatures_and_keys(f));
    cases.extend(algorithm_attacks(f));
    cases.extend(malformed_headers(f));
    cases.extend(malformed_payloads(f));
    cases.extend(bad_claims(f));
    cases.extend(broken_encodings(f));
    cases.extend(huge_tokens(f));
    cases.extend(strict_json(f));
    cases
}

fn tampered_signatures_and_keys(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let good = f.good();
    let (h, p, s) = segments(&good);
    let signature = unb64(&s);
    let alg = jwt_algorithm(f.alg);

    let mut first_flipped = signature.clone();
    first_flipped[0] ^= 0x01;
    let mut last_flipped = signature.clone();
    *last_flipped.last_mut().unwrap() ^= 0x80;
    let short_by_one = &signature[..signature.len() - 1];
    let (_, _, transplanted) = segments(&f.sign(
        &header,
        &with(claims.clone(), json!({"jti": "another-token"})),
    ));
    let admin = b64(with(claims.clone(), json!({"role": "admin"})).to_string());
    let retyped = b64(with(header.clone(), json!({"typ": "at+jwt"})).to_string());
    let stranger_kid = json!({"kid": f.stranger.kid()});

    vec![
        Case::new(
            "signature: a bit of its first byte flipped",
            format!("{h}.{p}.{}", b64(&first_flipped)),
        )
        .because(bad_signature),
        Case::new(
            "signature: a bit of its last byte flipped",
            format!("{h}.{p}.{}", b64(&last_flipped)),
        )
        .because(bad_signature),
        Case::new(
            "signature: one byte short",
            format!("{h}.{p}.{}", b64(short_by_one)),
        )
        .because(bad_signature),
        Case::new("signature: empty", format!("{h}.{p}.")).because(bad_signature),
        Case::new(
            "signature: transplanted from another token of the same key",
            format!("{h}.{p}.{transplanted}"),
        )
        .because(bad_signature),
        Case::new(
            "payload: role raised to admin, signature kept",
            format!("{h}.{admin}.{s}"),
        )
        .because(bad_signature),
        Case::new(
            "header: typ changed after signing, signature kept",
            format!("{retyped}.{p}.{s}"),
        )
        .because(bad_signature),
        Case::new(
            "key: signed by a stranger's key under the published kid",
            forge(
                header.to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(bad_signature),
        Case::new(
            "key: signed by a stranger's key under its own kid",
            forge(
                with(header.clone(), stranger_kid.clone()).to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(unknown_key),
        Case::new(
            "key: the stranger's key embedded (jwk), the published kid, signed by the stranger",
            forge(
                with(header.clone(), json!({"jwk": f.public_jwk(&f.stranger)})).to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(malformed),
        Case::new(
            "key: the stranger's key embedded (jwk) under its own kid, signed by the stranger",
            forge(
                with(
                    header.clone(),
                    json!({"jwk": f.public_jwk(&f.stranger), "kid": f.stranger.kid()}),
                )
                .to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(malformed),
        Case::new(
            "key: jku pointing at the stranger's key set, its kid, signed by the stranger",
            forge(
                with(
                    header.clone(),
                    json!({"jku": "https://evil.example/jwks.json", "kid": f.stranger.kid()}),
                )
                .to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(malformed),
        Case::new(
            "key: x5u pointing at the stranger's certificate, the published kid",
            forge(
                with(
                    header.clone(),
                    json!({"x5u": "https://evil.example/cert.pem"}),
                )
                .to_string(),
                claims.to_string(),
                &f.stranger_signer,
                alg,
            ),
        )
        .because(malformed),
    ]
}

fn algorithm_attacks(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let (_, p, _) = segments(&f.good());
    let mut cases = Vec::new();

    // `none`, unsigned and signed.
    for none in ["none", "None", "NONE", "nOnE"] {
        let none_header = b64(with(header.clone(), json!({"alg": none})).to_string());
        cases.push(
            Case::new(
                format!("alg {none:?}: no signature"),
                format!("{none_header}.{p}."),
            )
            .because(algorithm_not_allowed),
        );
    }
    cases.push(
        Case::new(
            "alg \"none\": signed anyway by the published key",
            f.sign(&with(header.clone(), json!({"alg": "none"})), &claims),
        )
        .because(algorithm_not_allowed),
    );

    // Names that are not the key's algorithm, over a genuine signature of the key's own.
    let own = f.alg.as_str();
    for name in [
        String::new(),
        format!("{own} "),
        format!(" {own}"),
        own.to_lowercase(),
        own.to_uppercase(),
        "Ed25519".to_owned(),
        "Ed448".to_owned(),
        "ES256".to_owned(),
        "RSA1_5".to_owned(),
    ] {
        if name == own {
            continue;
        }
        cases.push(
            Case::new(
                format!("alg {name:?}: over the published key's genuine {own} signature"),
                f.sign(&with(header.clone(), json!({"alg": name})), &claims),
            )
            .because(algorithm_not_allowed),
        );
    }

    // Other algorithms of the RSA family, genuinely signed by the published RSA key.
    if f.alg == SigningAlgorithm::RS256 {
        for other in [
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            let name = format!("{other:?}");
            cases.push(
                Case::new(
                    format!("alg {name}: genuinely signed by the published RSA key"),
                    forge(
                        with(header.clone(), json!({"alg": name})).to_string(),
                        claims.to_string(),
                        &f.signer,
                        other,
                    ),
                )
                .because(algorithm_not_allowed),
            );
        }
    }

    // The other fleet algorithm under this key's kid.
    let other = other_algorithm(f.alg);
    cases.push(
        Case::new(
            format!(
                "alg {other} under the published {} key's kid, signed by an {other} key",
                f.alg
            ),
            forge(
                with(header.clone(), json!({"alg": other.as_str()})).to_string(),
                claims.to_string(),
                &f.other_signer,
                jwt_algorithm(other),
            ),
        )
        .because(algorithm_not_allowed),
    );

    // HMAC with the public key as the secret (algorithm confusion), in every form an
    // attacker can get it.
    let jwk = f.public_jwk(&f.key);
    let public = jwk
        .get("n")
        .or_else(|| jwk.get("x"))
        .and_then(Value::as_str)
        .expect("an RSA modulus or an Ed25519 point")
        .to_owned();
    let secrets: [(&str, Vec<u8>); 3] = [
        ("the public key's bytes", unb64(&public)),
        (
            "the public key's base64url text",
            public.clone().into_bytes(),
        ),
        (
            "the published JWK's JSON text",
            jwk.to_string().into_bytes(),
        ),
    ];
    for (what, secret) in secrets {
        for hmac in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            cases.push(
                Case::new(
                    format!("alg {hmac:?} keyed with {what}"),
                    forge(
                        with(header.clone(), json!({"alg": format!("{hmac:?}")})).to_string(),
                        claims.to_string(),
                        &EncodingKey::from_secret(&secret),
                        hmac,
                    ),
                )
                .because(algorithm_not_allowed),
            );
        }
    }
    cases
}

/// Headers that are not what a JWS header must be; all signed by the published key.
fn malformed_headers(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let claims_text = claims.to_string();
    let mut invalid_utf8_typ = b"\"typ\":\"JWT".to_vec();
    invalid_utf8_typ.push(0xff);
    invalid_utf8_typ.extend_from_slice(b"\",");
    let mut with_bom = vec![0xef, 0xbb, 0xbf];
    with_bom.extend_from_slice(header.to_string().as_bytes());

    vec![
        Case::new(
            "alg missing",
            f.sign(&without(header.clone(), "alg"), &claims),
        )
        .because(malformed),
        Case::new(
            "alg null",
            f.sign(&with(header.clone(), json!({"alg": null})), &claims),
        )
        .because(malformed),
        Case::new(
            "alg a list",
            f.sign(
                &with(header.clone(), json!({"alg": [f.alg.as_str()]})),
                &claims,
            ),
        )
        .because(malformed),
        Case::new(
            "alg given twice (none, then the key's)",
            f.sign_raw(prefixed(&header, r#""alg":"none","#), &claims_text),
        )
        .because(malformed),
        Case::new(
            "alg given twice (the key's both times)",
            f.sign_raw(
                prefixed(&header, format!(r#""alg":"{}","#, f.alg.as_str())),
                &claims_text,
            ),
        )
        .because(malformed),
        Case::new(
            "kid given twice (a stranger's, then the published one)",
            f.sign_raw(
                prefixed(&header, format!(r#""kid":"{}","#, f.stranger.kid())),
                &claims_text,
            ),
        )
        .because(malformed),
        Case::new(
            "kid a number",
            f.sign(&with(header.clone(), json!({"kid": 7})), &claims),
        )
        .because(malformed),
        Case::new(
            "typ a number",
            f.sign(&with(header.clone(), json!({"typ": 7})), &claims),
        )
        .because(malformed),
        Case::new(
            "crit not a list",
            f.sign(&with(header.clone(), json!({"crit": 5})), &claims),
        )
        .because(critical_extension),
        Case::new("header not JSON", f.sign_raw("not json", &claims_text)).because(malformed),
        Case::new(
            "header a JSON string",
            f.sign_raw(json!(f.alg.as_str()).to_string(), &claims_text),
        )
        .because(malformed),
        Case::new(
            "header a JSON array of numbers",
            f.sign_raw("[1,2,3]", &claims_text),
        )
        .because(malformed),
        Case::new("header null", f.sign_raw("null", &claims_text)).because(malformed),
        Case::new("header empty", f.sign_raw("", &claims_text)).because(malformed),
        Case::new(
            "header with bytes after the JSON object",
            f.sign_raw(format!("{header}x"), &claims_text),
        )
        .because(malformed),
        Case::new(
            "header with invalid UTF-8 in typ",
            f.sign_raw(
                prefixed(&without(header.clone(), "typ"), invalid_utf8_typ),
                &claims_text,
            ),
        )
        .because(malformed),
        Case::new(
            "header starting with a UTF-8 byte-order mark",
            f.sign_raw(with_bom, &claims_text),
        )
        .because(malformed),
    ]
}

/// Payloads that are not a JSON claims object; all signed by the published key.
fn malformed_payloads(f: &Fixture) -> Vec<Case> {
    let header = f.header().to_string();
    let claims = f.claims();
    let mut with_bom = vec![0xef, 0xbb, 0xbf];
    with_bom.extend_from_slice(claims.to_string().as_bytes());
    vec![
        Case::new("payload not JSON", f.sign_raw(&header, "not json")).because(invalid_claims),
        Case::new(
            "payload a JSON array of numbers",
            f.sign_raw(&header, "[1,2,3]"),
        )
        .because(invalid_claims),
        Case::new("payload null", f.sign_raw(&header, "null")).because(invalid_claims),
        Case::new("payload a JSON string", f.sign_raw(&header, r#""ada""#)).because(invalid_claims),
        Case::new("payload empty", f.sign_raw(&header, "")).because(invalid_claims),
        Case::new(
            "payload with bytes after the JSON object",
            f.sign_raw(&header, format!("{claims}x")),
        )
        .because(invalid_claims),
        Case::new(
            "payload starting with a UTF-8 byte-order mark",
            f.sign_raw(&header, with_bom),
        )
        .because(invalid_claims),
        Case::new(
            "payload with a lone UTF-16 surrogate in sub",
            f.sign_raw(
                &header,
                prefixed(&without(claims.clone(), "sub"), r#""sub":"\ud800","#),
            ),
        )
        .because(invalid_claims),
    ]
}

/// Well-formed tokens, genuinely signed, whose claims must not be accepted.
fn bad_claims(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let exp = f.now + 900;
    let mut cases = vec![
        Case::new(
            "expired 120 s ago (leeway 30 s)",
            f.sign(&header, &f.claims_at(-1000, -1000, -120)),
        )
        .because(expired),
        Case::new(
            "expired at the epoch's first second",
            f.sign(
                &header,
                &with(claims.clone(), json!({"iat": 0, "nbf": 0, "exp": 1})),
            ),
        )
        .because(expired),
        Case::new(
            "not valid for another 120 s (leeway 30 s)",
            f.sign(&header, &f.claims_at(0, 120, 900)),
        )
        .because(not_yet_valid),
        Case::new(
            "iss of another issuer",
            f.sign(&header, &with(claims.clone(), json!({"iss": "evil"}))),
        )
        .because(wrong_issuer),
        Case::new(
            "iss in another letter case",
            f.sign(
                &header,
                &with(claims.clone(), json!({"iss": ISSUER.to_uppercase()})),
            ),
        )
        .because(wrong_issuer),
        Case::new(
            "iss with a trailing space",
            f.sign(
                &header,
                &with(claims.clone(), json!({"iss": format!("{ISSUER} ")})),
            ),
        )
        .because(wrong_issuer),
        Case::new(
            "aud of another service",
            f.sign(
                &header,
                &with(claims.clone(), json!({"aud": "another-service"})),
            ),
        )
        .because(wrong_audience),
        Case::new(
            "aud a list without ours",
            f.sign(
                &header,
                &with(claims.clone(), json!({"aud": ["another-service"]})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "aud an empty list",
            f.sign(&header, &with(claims.clone(), json!({"aud": []}))),
        )
        .because(invalid_claims),
        Case::new(
            "aud nested 200 lists deep",
            f.sign_raw(
                header.to_string(),
                prefixed(
                    &without(claims.clone(), "aud"),
                    format!(r#""aud":{},"#, nested(DEEP)),
                ),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "exp a string",
            f.sign(
                &header,
                &with(claims.clone(), json!({"exp": exp.to_string()})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "exp negative",
            f.sign(&header, &with(claims.clone(), json!({"exp": -1}))),
        )
        .because(invalid_claims),
        Case::new(
            "exp null",
            f.sign(&header, &with(claims.clone(), json!({"exp": null}))),
        )
        .because(invalid_claims),
        Case::new(
            "exp a boolean",
            f.sign(&header, &with(claims.clone(), json!({"exp": true}))),
        )
        .because(invalid_claims),
        Case::new(
            "exp 1e300 (beyond u64)",
            f.sign_raw(
                header.to_string(),
                prefixed(&without(claims.clone(), "exp"), r#""exp":1e300,"#),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "exp with a leading zero (not a JSON number)",
            f.sign_raw(
                header.to_string(),
                prefixed(&without(claims.clone(), "exp"), format!(r#""exp":0{exp},"#)),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "nbf a string",
            f.sign(
                &header,
                &with(claims.clone(), json!({"nbf": f.now.to_string()})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "iss a number",
            f.sign(&header, &with(claims.clone(), json!({"iss": 5}))),
        )
        .because(invalid_claims),
        Case::new(
            "sub a number",
            f.sign(&header, &with(claims.clone(), json!({"sub": 5}))),
        )
        .because(invalid_claims),
        Case::new(
            "exp given twice (expired, then valid)",
            f.sign_raw(header.to_string(), prefixed(&claims, r#""exp":1,"#)),
        )
        .because(invalid_claims),
        Case::new(
            "iss given twice (another issuer, then ours)",
            f.sign_raw(header.to_string(), prefixed(&claims, r#""iss":"evil","#)),
        )
        .because(invalid_claims),
    ];
    for name in ["exp", "nbf", "iss", "aud", "sub"] {
        cases.push(
            Case::new(
                format!("{name} missing"),
                f.sign(&header, &without(claims.clone(), name)),
            )
            .because(invalid_claims),
        );
    }
    cases
}

/// Segments and encodings that are not a compact JWS.
fn broken_encodings(f: &Fixture) -> Vec<Case> {
    let good = f.good();
    let (h, p, s) = segments(&good);
    let mut standard_alphabet = s.clone();
    standard_alphabet.replace_range(0..1, "+");
    vec![
        Case::new("empty token", "").because(malformed),
        Case::new("one segment (the header)", h.clone()).because(malformed),
        Case::new("two segments (signature dropped)", format!("{h}.{p}")).because(malformed),
        Case::new("two dots only", "..").because(malformed),
        Case::new("three dots only", "...").because(malformed),
        Case::new(
            "four segments, the signature over the first three",
            f.sign_segments(&h, &format!("{p}.{}", b64("{}"))),
        )
        .because(malformed),
        Case::new(
            "four segments: a valid token with its signature repeated",
            format!("{good}.{s}"),
        )
        .because(bad_signature),
        Case::new("five segments", format!("{h}.{p}.{p}.{p}.{s}")).because(bad_signature),
        Case::new(
            "header segment padded with '=', signed as it is",
            f.sign_segments(&format!("{h}=="), &p),
        )
        .because(malformed),
        Case::new(
            "header segment with a '/' (base64, not base64url), signed as it is",
            f.sign_segments(&format!("/{h}"), &p),
        )
        .because(malformed),
        Case::new(
            "payload segment padded with '=', signed as it is",
            f.sign_segments(&h, &format!("{p}=")),
        )
        .because(malformed),
        Case::new(
            "payload segment with a '+' (base64, not base64url), signed as it is",
            f.sign_segments(&h, &format!("+{p}")),
        )
        .because(malformed),
        Case::new("signature padded with '='", format!("{good}=")).because(malformed),
        Case::new("signature padded with '=='", format!("{good}==")).because(malformed),
        Case::new(
            "signature with a '+' (base64, not base64url) for its first character",
            format!("{h}.{p}.{standard_alphabet}"),
        )
        .because(malformed),
        Case::new(
            "signature with non-canonical base64url (unused bits set)",
            format!("{h}.{p}.{}", non_canonical(&s)),
        )
        .because(malformed),
        Case::new("trailing space", format!("{good} ")).because(malformed),
        Case::new("trailing newline", format!("{good}\n")).because(malformed),
        Case::new("trailing CRLF", format!("{good}\r\n")).because(malformed),
        Case::new("leading space", format!(" {good}")).because(malformed),
        Case::new("a NUL byte appended", format!("{good}\0")).because(malformed),
        Case::new("a space after the first dot", format!("{h}. {p}.{s}")).because(bad_signature),
    ]
}

fn huge_tokens(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let padding = "x".repeat(ONE_MB);
    vec![
        Case::new("1 MB of 'A', no dots", "A".repeat(ONE_MB)).because(malformed),
        Case::new("1 MB of dots", ".".repeat(ONE_MB)).because(malformed),
        Case::new(
            "1 MB claim, signed by a stranger's key under the published kid",
            forge(
                header.to_string(),
                with(f.claims(), json!({"padding": padding})).to_string(),
                &f.stranger_signer,
                jwt_algorithm(f.alg),
            ),
        )
        .because(bad_signature),
        Case::new(
            "1 MB header member, alg none, no signature",
            format!(
                "{}.{}.",
                b64(with(header, json!({"alg": "none", "padding": padding})).to_string()),
                b64(f.claims().to_string())
            ),
        )
        .because(malformed),
    ]
}

// ---------------------------------------------------------------------------------------
// Table 3: accepted by jsonwebtoken, refused by us (the "and more").
// ---------------------------------------------------------------------------------------

fn rejected_only_by_us(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let max = DEFAULT_MAX_LIFETIME_SECONDS as i64;
    let mut cases = vec![
        // Header members beyond alg, kid, typ and crit: jsonwebtoken ignores them.
        Case::new(
            "an unknown header member (only the members we need are accepted)",
            f.sign(&with(header.clone(), json!({"x-trace": "abc"})), &claims),
        )
        .because(malformed),
        Case::new(
            "jku, x5u and an embedded jwk: refused, keys come only from the published set",
            f.sign(
                &with(
                    header.clone(),
                    json!({
                        "jku": "https://evil.example/jwks.json",
                        "x5u": "https://evil.example/cert.pem",
                        "jwk": f.public_jwk(&f.stranger),
                    }),
                ),
                &claims,
            ),
        )
        .because(malformed),
        // Key ids: jsonwebtoken has no key set and never looks at kid.
        Case::new(
            "kid missing",
            f.sign(&without(header.clone(), "kid"), &claims),
        )
        .because(missing_key_id),
        Case::new(
            "kid null",
            f.sign(&with(header.clone(), json!({"kid": null})), &claims),
        )
        .because(missing_key_id),
        Case::new(
            "kid empty",
            f.sign(&with(header.clone(), json!({"kid": ""})), &claims),
        )
        .because(unknown_key),
        Case::new(
            "kid of no published key (signed by the published key)",
            f.sign(
                &with(header.clone(), json!({"kid": "not-a-published-key"})),
                &claims,
            ),
        )
        .because(unknown_key),
        // crit (RFC 7515 4.1.11): jsonwebtoken parses it and ignores it.
        Case::new(
            "crit naming a header parameter",
            f.sign(
                &with(header.clone(), json!({"crit": ["exp"], "exp": 1})),
                &claims,
            ),
        )
        .because(malformed),
        Case::new(
            "crit an empty list",
            f.sign(&with(header.clone(), json!({"crit": []})), &claims),
        )
        .because(critical_extension),
        Case::new(
            "crit naming b64 (RFC 7797 unencoded payload)",
            f.sign(
                &with(header.clone(), json!({"crit": ["b64"], "b64": false})),
                &claims,
            ),
        )
        .because(malformed),
        // Token types (RFC 8725 3.11): jsonwebtoken does not look at typ.
        Case::new(
            "typ missing",
            f.sign(&without(header.clone(), "typ"), &claims),
        )
        .because(not_an_access_token_type),
        // Lifetimes: jsonwebtoken has no maximum and ignores iat.
        Case::new(
            "living one second longer than the maximum",
            f.sign(&header, &f.claims_at(0, 0, max + 1)),
        )
        .because(lives_too_long),
        Case::new(
            "never expiring (exp u64::MAX)",
            f.sign(&header, &with(claims.clone(), json!({"exp": u64::MAX}))),
        )
        .because(lives_too_long),
        Case::new(
            "iat 0 laundering a lifetime of decades",
            f.sign(&header, &with(claims.clone(), json!({"iat": 0}))),
        )
        .because(lives_too_long),
        Case::new(
            "issued 600 s in the future",
            f.sign(&header, &f.claims_at(600, 0, 900)),
        )
        .because(issued_in_the_future),
        // Revocations: jsonwebtoken has none.
        Case::new(
            "a revoked session",
            f.sign(
                &header,
                &with(claims.clone(), json!({"sid": REVOKED_SESSION})),
            ),
        )
        .because(revoked),
        Case::new(
            "a deleted user's token",
            f.sign(
                &header,
                &with(
                    claims.clone(),
                    json!({"sub": DELETED_USER, "sid": DELETED_USERS_SESSION}),
                ),
            ),
        )
        .because(revoked),
        // Claim shapes: jsonwebtoken accepts lists for iss and aud (any member matching) and
        // floats for times, and checks none of role, iat, jti, sid.
        Case::new(
            "iss a list holding ours and another",
            f.sign(
                &header,
                &with(claims.clone(), json!({"iss": ["evil", ISSUER]})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "aud a list holding ours and another",
            f.sign(
                &header,
                &with(
                    claims.clone(),
                    json!({"aud": ["another-service", AUDIENCE]}),
                ),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "exp a float",
            f.sign(
                &header,
                &with(claims.clone(), json!({"exp": (f.now + 900) as f64 + 0.5})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "nbf a float",
            f.sign(
                &header,
                &with(claims.clone(), json!({"nbf": f.now as f64 - 0.5})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "role not a role",
            f.sign(&header, &with(claims.clone(), json!({"role": "root"}))),
        )
        .because(invalid_claims),
        Case::new(
            "iat a string",
            f.sign(
                &header,
                &with(claims.clone(), json!({"iat": f.now.to_string()})),
            ),
        )
        .because(invalid_claims),
        Case::new(
            "sid not a string",
            f.sign(&header, &with(claims.clone(), json!({"sid": 42}))),
        )
        .because(invalid_claims),
        Case::new(
            "role given twice (admin, then clinician)",
            f.sign_raw(header.to_string(), prefixed(&claims, r#""role":"admin","#)),
        )
        .because(invalid_claims),
    ];
    for typ in ["JOSE", "JWE", "secevent+jwt", "dpop+jwt", ""] {
        cases.push(
            Case::new(
                format!("typ {typ:?}"),
                f.sign(&with(header.clone(), json!({"typ": typ})), &claims),
            )
            .because(not_an_access_token_type),
        );
    }
    for name in ["iat", "jti", "role"] {
        cases.push(
            Case::new(
                format!("{name} missing"),
                f.sign(&header, &without(claims.clone(), name)),
            )
            .because(invalid_claims),
        );
    }
    cases
}

// ---------------------------------------------------------------------------------------
// Table 4: KNOWN GAPS, refused by jsonwebtoken, accepted by us.
// ---------------------------------------------------------------------------------------

/// Every one is signed by the published key over its exact bytes: our verifier parses
/// headers and payloads more leniently than jsonwebtoken (registered header parameters it does
/// not use are not type-checked, structs also deserialise from JSON arrays, and members it
/// does not know are skipped without serde_json's UTF-8, surrogate and depth checks).
/// JSON that jsonwebtoken's strict parsing refuses: mistyped or repeated registered header
/// members, arrays for objects, deep nesting, lone surrogates and invalid UTF-8 in members
/// either verifier would otherwise ignore.
fn strict_json(f: &Fixture) -> Vec<Case> {
    let header = f.header();
    let claims = f.claims();
    let mut cases = Vec::new();
    for (member, value) in [
        ("cty", json!(5)),
        ("jku", json!(5)),
        ("jwk", json!("not a key")),
        ("x5u", json!(["https://evil.example/cert.pem"])),
        ("x5c", json!("MIIB")),
        ("x5t", json!(5)),
        ("x5t#S256", json!(5)),
        ("enc", json!(5)),
        ("zip", json!(5)),
        ("url", json!(5)),
        ("nonce", json!(5)),
    ] {
        let mut mistyped = header.clone();
        mistyped[member] = value;
        cases.push(Case::new(
            format!("header parameter {member} of the wrong type"),
            f.sign(&mistyped, &claims),
        ));
    }
    let mut invalid_utf8 = b"\"x\":\"".to_vec();
    invalid_utf8.push(0xff);
    invalid_utf8.extend_from_slice(b"\",");
    cases.extend([
        Case::new(
            "header parameter cty given twice",
            f.sign_raw(
                prefixed(
                    &with(header.clone(), json!({"cty": "JWT"})),
                    r#""cty":"JWT","#,
                ),
                claims.to_string(),
            ),
        ),
        Case::new(
            "header a JSON array in the verifier's field order (alg, kid, typ, crit)",
            f.sign(&json!([f.alg.as_str(), f.key.kid(), "JWT", null]), &claims),
        ),
        Case::new(
            "payload a JSON array in the claims' field order",
            f.sign(
                &header,
                &json!([
                    "ada",
                    "clinician",
                    f.now,
                    f.now,
                    f.now + 900,
                    ISSUER,
                    AUDIENCE,
                    "conformance-1"
                ]),
            ),
        ),
        Case::new(
            "unknown header member nested 200 lists deep",
            f.sign_raw(
                prefixed(&header, format!(r#""x":{},"#, nested(DEEP))),
                claims.to_string(),
            ),
        ),
        Case::new(
            "unknown header member holding a lone UTF-16 surrogate",
            f.sign_raw(prefixed(&header, r#""x":"\ud800","#), claims.to_string()),
        ),
        Case::new(
            "unknown header member holding invalid UTF-8",
            f.sign_raw(prefixed(&header, &invalid_utf8), claims.to_string()),
        ),
        Case::new(
            "unknown claim nested 200 lists deep",
            f.sign_raw(
                header.to_string(),
                prefixed(&claims, format!(r#""x":{},"#, nested(DEEP))),
            ),
        ),
        Case::new(
            "unknown claim holding a lone UTF-16 surrogate",
            f.sign_raw(header.to_string(), prefixed(&claims, r#""x":"\ud800","#)),
        ),
        Case::new(
            "unknown claim holding invalid UTF-8",
            f.sign_raw(header.to_string(), prefixed(&claims, &invalid_utf8)),
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------

/// Fails listing every case that went wrong, not just the first.
fn report(alg: SigningAlgorithm, table: &str, count: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{alg} / {table}: {} of {count} cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

fn unique_names(cases: &[Case]) {
    let mut seen = HashSet::new();
    for case in cases {
        assert!(seen.insert(&case.name), "two cases named {:?}", case.name);
    }
}

async fn both_accept_well_formed_tokens(alg: SigningAlgorithm) {
    let f = Fixture::new(alg).await;
    let cases = accepted_by_both(&f);
    unique_names(&cases);
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(error) = f.jsonwebtoken(&case.token) {
            failures.push(format!("{}: jsonwebtoken rejects it: {error:?}", case.name));
        }
        if let Err(error) = f.ours(&case.token).await {
            failures.push(format!("{}: we reject it: {error:?}", case.name));
        }
    }
    report(alg, "accepted by both", cases.len(), failures);
}

/// What is wrong with our verifier's answer to a case it must reject: it accepted it
/// (`accepted` says how bad that is), or it rejected it for another reason than the case names.
async fn our_rejection(f: &Fixture, case: &Case, accepted: &str) -> Option<String> {
    match f.ours(&case.token).await {
        Ok(claims) => Some(format!(
            "{}: {accepted}: {}",
            case.name,
            short(format!("{claims:?}"))
        )),
        Err(error) => case.ours.is_some_and(|reason| !reason(&error)).then(|| {
            format!(
                "{}: rejected, but not for the expected reason: {error:?}",
                case.name
            )
        }),
    }
}

async fn we_reject_everything_jsonwebtoken_rejects(alg: SigningAlgorithm) {
    let f = Fixture::new(alg).await;
    let cases = rejected_by_both(&f);
    unique_names(&cases);
    let mut failures = Vec::new();
    for case in &cases {
        if let Ok(claims) = f.jsonwebtoken(&case.token) {
            failures.push(format!(
                "{}: jsonwebtoken accepts it, so the case proves nothing: {}",
                case.name,
                short(claims.to_string())
            ));
        }
        failures.extend(our_rejection(&f, case, "WE ACCEPT A TOKEN JSONWEBTOKEN REJECTS").await);
    }
    report(alg, "rejected by both", cases.len(), failures);
}

async fn we_reject_more_than_jsonwebtoken(alg: SigningAlgorithm) {
    let f = Fixture::new(alg).await;
    let cases = rejected_only_by_us(&f);
    unique_names(&cases);
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(error) = f.jsonwebtoken(&case.token) {
            failures.push(format!(
                "{}: jsonwebtoken rejects it too ({error:?}): it belongs in `rejected_by_both`",
                case.name
            ));
        }
        failures.extend(our_rejection(&f, case, "we accept it").await);
    }
    report(alg, "rejected only by us", cases.len(), failures);
}

/// Every check runs once per signing algorithm.
macro_rules! for_each_algorithm {
    ($($check:ident),* $(,)?) => {
        mod rs256 {
            $(#[tokio::test]
            async fn $check() {
                super::$check(auth_tokens::SigningAlgorithm::RS256).await
            })*
        }
        mod eddsa {
            $(#[tokio::test]
            async fn $check() {
                super::$check(auth_tokens::SigningAlgorithm::EdDSA).await
            })*
        }
    };
}

for_each_algorithm!(
    both_accept_well_formed_tokens,
    we_reject_everything_jsonwebtoken_rejects,
    we_reject_more_than_jsonwebtoken,
);
