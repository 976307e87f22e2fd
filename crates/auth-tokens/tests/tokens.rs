//! Token verification against forged, expired, misdirected and rotated tokens.

mod common;

use common::{jwt_algorithm, other_algorithm};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use auth_tokens::{
    now_seconds, Claims, Issuer, Jwks, KeySource, Revocations, Role, SigningAlgorithm, SigningKey,
    TokenError, Verifier, VerifierConfig, DEFAULT_MAX_LIFETIME_SECONDS,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "seizure-ops-auth";
const AUDIENCE: &str = "seizure-ops";

fn config() -> VerifierConfig {
    VerifierConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_seconds: 30,
        max_lifetime_seconds: auth_tokens::DEFAULT_MAX_LIFETIME_SECONDS,
    }
}

async fn verifier_for(keys: &[&SigningKey]) -> Verifier {
    Verifier::new(config(), KeySource::Static(Jwks::of(keys)))
        .await
        .unwrap()
}

fn claims(offset_nbf: i64, offset_exp: i64) -> Claims {
    let now = now_seconds() as i64;
    Claims {
        sub: "ada".into(),
        role: Role::Clinician,
        iat: now as u64,
        nbf: (now + offset_nbf) as u64,
        exp: (now + offset_exp) as u64,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: "j1".into(),
        sid: None,
    }
}

async fn issued_tokens_verify_and_carry_every_claim(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let issuer = Issuer::new(key, ISSUER, AUDIENCE, 900);
    let (token, claims) = issuer.issue("ada", Role::Admin).unwrap();
    let verifier = verifier_for(&[issuer.key()]).await;
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified, claims);
    assert_eq!(verified.exp - verified.iat, 900);
    assert_eq!(verified.jti.len(), 32);
    let (_, other) = issuer.issue("ada", Role::Admin).unwrap();
    assert_ne!(other.jti, claims.jti, "every token has its own id");
}

async fn expiry_and_not_before_are_enforced_with_leeway(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let expired = key.sign(&claims(-1000, -120)).unwrap();
    assert_eq!(verifier.verify(&expired).await, Err(TokenError::Expired));
    let barely = key.sign(&claims(-1000, -10)).unwrap();
    assert!(
        verifier.verify(&barely).await.is_ok(),
        "within the 30 s leeway"
    );
    let early = key.sign(&claims(120, 900)).unwrap();
    assert_eq!(verifier.verify(&early).await, Err(TokenError::NotYetValid));
}

async fn audience_and_issuer_must_match(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let mut wrong_audience = claims(0, 900);
    wrong_audience.aud = "another-service".into();
    assert_eq!(
        verifier.verify(&key.sign(&wrong_audience).unwrap()).await,
        Err(TokenError::WrongAudience)
    );
    let mut wrong_issuer = claims(0, 900);
    wrong_issuer.iss = "evil".into();
    assert_eq!(
        verifier.verify(&key.sign(&wrong_issuer).unwrap()).await,
        Err(TokenError::WrongIssuer)
    );
}

async fn tampered_tokens_are_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let token = key.sign(&claims(0, 900)).unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    // Promote oneself to admin without re-signing.
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = "admin".into();
    let forged_payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verifier.verify(&forged).await,
        Err(TokenError::BadSignature)
    );

    // A flipped signature byte.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_eq!(
        verifier.verify(&flipped).await,
        Err(TokenError::BadSignature)
    );

    assert_eq!(
        verifier.verify("not.a.jwt").await,
        Err(TokenError::Malformed)
    );
    assert_eq!(verifier.verify("").await, Err(TokenError::Malformed));
}

async fn alg_none_is_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": key.kid()});
    let payload = serde_json::to_string(&claims(0, 900)).unwrap();
    let token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::AlgorithmNotAllowed(_))
    ));
}

async fn hs256_signed_with_the_public_key_is_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    let public = jwk
        .get("x")
        .or_else(|| jwk.get("n"))
        .and_then(|v| v.as_str())
        .unwrap()
        .to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    // An attacker who knows the public key tries it as an HMAC secret, in every encoding.
    for secret in [
        public.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&public).unwrap(),
        key.to_pem().into_bytes(),
    ] {
        let token =
            jsonwebtoken::encode(&header, &claims(0, 900), &EncodingKey::from_secret(&secret))
                .unwrap();
        assert_eq!(
            verifier.verify(&token).await,
            Err(TokenError::AlgorithmNotAllowed("HS256".into()))
        );
    }
}

async fn key_ids_are_required_and_must_be_known(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let stranger = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let token = stranger.sign(&claims(0, 900)).unwrap();
    assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    let no_kid = jsonwebtoken::encode(
        &Header::new(jwt_algorithm(alg)),
        &claims(0, 900),
        &encoding_key(&key),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&no_kid).await,
        Err(TokenError::MissingKeyId)
    );
}

/// The same key for jsonwebtoken, to forge tokens our signer would never write.
fn encoding_key(key: &SigningKey) -> EncodingKey {
    match key.algorithm() {
        SigningAlgorithm::RS256 => EncodingKey::from_rsa_pem(key.to_pem().as_bytes()).unwrap(),
        SigningAlgorithm::EdDSA => EncodingKey::from_ed_pem(key.to_pem().as_bytes()).unwrap(),
    }
}

async fn the_algorithm_is_pinned_by_the_key_not_the_header(alg: SigningAlgorithm) {
    // A validly signed token of the other algorithm that names this key's id.
    let key = SigningKey::generate(alg).unwrap();
    let attacker = SigningKey::generate(other_algorithm(alg)).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let mut header = Header::new(jwt_algorithm(other_algorithm(alg)));
    header.kid = Some(key.kid().to_owned());
    let token = jsonwebtoken::encode(&header, &claims(0, 900), &encoding_key(&attacker)).unwrap();
    assert!(
        matches!(verifier.verify(&token).await, Err(TokenError::AlgorithmNotAllowed(ref m)) if m.contains(other_algorithm(alg).as_str())),
        "{:?}",
        verifier.verify(&token).await
    );
    // Both algorithms verify side by side, each with its own key.
    let both = verifier_for(&[&key, &attacker]).await;
    for signer in [&key, &attacker] {
        assert!(both
            .verify(&signer.sign(&claims(0, 900)).unwrap())
            .await
            .is_ok());
    }
}

async fn rotation_keeps_tokens_of_every_published_key_valid(alg: SigningAlgorithm) {
    let old = SigningKey::generate(alg).unwrap();
    let new = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&new, &old]).await;
    for key in [&old, &new] {
        assert!(verifier
            .verify(&key.sign(&claims(0, 900)).unwrap())
            .await
            .is_ok());
    }
}

async fn missing_claims_are_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let now = now_seconds();
    let partial =
        serde_json::json!({"sub": "ada", "exp": now + 900, "iss": ISSUER, "aud": AUDIENCE});
    let token = key.sign(&partial).unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(TokenError::Invalid(_))
    ));
}

async fn pem_round_trip_keeps_the_key_id(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let again = SigningKey::from_pem(&key.to_pem()).unwrap();
    assert_eq!(again.kid(), key.kid());
    assert!(SigningKey::from_pem("not a key").is_err());
    assert!(
        !format!("{key:?}").contains("PRIVATE"),
        "Debug never shows the key"
    );
}

/// A one-route HTTP server answering every request with the current JWKS.
async fn jwks_server(jwks: Arc<Mutex<Jwks>>, hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buffer = [0u8; 2048];
            let _ = socket.read(&mut buffer).await;
            hits.fetch_add(1, Ordering::SeqCst);
            let body = jwks.lock().unwrap().to_json().to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{address}/.well-known/jwks.json")
}

async fn an_unknown_key_id_refreshes_the_key_set_once(alg: SigningAlgorithm) {
    let first = SigningKey::generate(alg).unwrap();
    let rotated = SigningKey::generate(alg).unwrap();
    let published = Arc::new(Mutex::new(Jwks::of(&[&first])));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(published.clone(), hits.clone()).await;
    let verifier = Verifier::new(config(), KeySource::Url(url)).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1, "fetched at start");
    assert!(verifier
        .verify(&first.sign(&claims(0, 900)).unwrap())
        .await
        .is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "known keys need no fetch");

    // The auth service rotates: the new key's token triggers one refresh and verifies.
    *published.lock().unwrap() = Jwks::of(&[&rotated, &first]);
    assert!(verifier
        .verify(&rotated.sign(&claims(0, 900)).unwrap())
        .await
        .is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Made-up key ids cannot make every request fetch the key set.
    let stranger = SigningKey::generate(alg).unwrap();
    for _ in 0..5 {
        let token = stranger.sign(&claims(0, 900)).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "refreshes are rate-limited");
}

async fn a_remembered_token_still_expires(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = Verifier::new(
        VerifierConfig {
            leeway_seconds: 0,
            ..config()
        },
        KeySource::Static(Jwks::of(&[&key])),
    )
    .await
    .unwrap();
    let token = key.sign(&claims(0, 1)).unwrap();
    assert!(verifier.verify(&token).await.is_ok());
    assert!(
        verifier.verify(&token).await.is_ok(),
        "second check from the cache"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(verifier.verify(&token).await, Err(TokenError::Expired));
}

/// Signs `claims` under a header of our choosing (the issuer always writes the same one).
fn sign_with_header(
    key: &SigningKey,
    alg: SigningAlgorithm,
    header: serde_json::Value,
    claims: &Claims,
) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature =
        jsonwebtoken::crypto::sign(signed.as_bytes(), &encoding_key(key), jwt_algorithm(alg))
            .unwrap();
    format!("{signed}.{signature}")
}

async fn critical_extensions_and_foreign_token_types_are_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let good = claims(0, 900);
    let header = |extra: serde_json::Value| {
        let mut header = serde_json::json!({"alg": alg.as_str(), "kid": key.kid()});
        for (name, value) in extra.as_object().unwrap() {
            header[name] = value.clone();
        }
        header
    };
    for accepted in [
        serde_json::json!({"typ": "JWT"}),
        serde_json::json!({"typ": "at+jwt"}),
    ] {
        let token = sign_with_header(&key, alg, header(accepted.clone()), &good);
        assert!(verifier.verify(&token).await.is_ok(), "{accepted}");
    }
    let critical = sign_with_header(
        &key,
        alg,
        header(serde_json::json!({"typ": "JWT", "crit": ["exp"]})),
        &good,
    );
    assert!(
        matches!(verifier.verify(&critical).await, Err(TokenError::Invalid(m)) if m.contains("crit"))
    );
    // The extension's own member is refused before that: only alg, kid, typ, crit are read.
    let extended = sign_with_header(
        &key,
        alg,
        header(serde_json::json!({"typ": "JWT", "crit": ["exp"], "exp": 1})),
        &good,
    );
    assert!(matches!(
        verifier.verify(&extended).await,
        Err(TokenError::Malformed)
    ));
    let untyped = sign_with_header(&key, alg, header(serde_json::json!({})), &good);
    assert!(
        matches!(verifier.verify(&untyped).await, Err(TokenError::Invalid(m)) if m.contains("typ"))
    );
    for foreign in ["JWE", "secevent+jwt", "dpop+jwt"] {
        let token = sign_with_header(
            &key,
            alg,
            header(serde_json::json!({"typ": foreign})),
            &good,
        );
        assert!(
            matches!(verifier.verify(&token).await, Err(TokenError::Invalid(m)) if m.contains("token type")),
            "{foreign}"
        );
    }
}

async fn tokens_living_longer_than_the_maximum_are_rejected(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let verifier = verifier_for(&[&key]).await;
    let longest = claims(0, DEFAULT_MAX_LIFETIME_SECONDS as i64);
    assert!(verifier.verify(&key.sign(&longest).unwrap()).await.is_ok());
    let too_long = claims(0, DEFAULT_MAX_LIFETIME_SECONDS as i64 + 1);
    assert!(matches!(
        verifier.verify(&key.sign(&too_long).unwrap()).await,
        Err(TokenError::Invalid(m)) if m.contains("longer than")
    ));
    let mut forever = claims(0, 900);
    forever.exp = u64::MAX;
    assert!(matches!(
        verifier.verify(&key.sign(&forever).unwrap()).await,
        Err(TokenError::Invalid(_))
    ));
    // Nor issued in the future (it would slip past a user's revocation time).
    let mut future = claims(0, 900);
    future.iat += 600;
    assert!(verifier.verify(&key.sign(&future).unwrap()).await.is_err());
    // An old iat cannot launder a far-away exp either.
    let mut backdated = claims(0, 900);
    backdated.iat = 0;
    assert!(verifier
        .verify(&key.sign(&backdated).unwrap())
        .await
        .is_err());
}

async fn revoked_sessions_and_users_are_refused_even_from_the_cache(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let issuer = Issuer::new(key, ISSUER, AUDIENCE, 900);
    let verifier = verifier_for(&[issuer.key()]).await;
    let (session_token, claims) = issuer
        .issue_in_session("ada", Role::Clinician, Some("family-1"))
        .unwrap();
    assert_eq!(claims.sid.as_deref(), Some("family-1"));
    let (other_session, _) = issuer
        .issue_in_session("ada", Role::Clinician, Some("family-2"))
        .unwrap();
    let (bobs, _) = issuer.issue("bob", Role::Clinician).unwrap();
    assert!(verifier.verify(&session_token).await.is_ok(), "now cached");

    let mut revoked = Revocations::default();
    revoked.revoke_session("family-1");
    verifier.set_revocations(revoked.clone());
    assert_eq!(
        verifier.verify(&session_token).await,
        Err(TokenError::Revoked)
    );
    assert!(verifier.verify(&other_session).await.is_ok());

    // Ada deleted: every session of hers is listed.
    revoked.revoke_session("family-2");
    verifier.set_revocations(revoked.clone());
    assert_eq!(
        verifier.verify(&other_session).await,
        Err(TokenError::Revoked)
    );
    assert!(verifier.verify(&bobs).await.is_ok(), "only ada is revoked");
    let published = serde_json::to_string(&revoked).unwrap();
    assert!(
        !published.contains("ada") && !published.contains("subjects"),
        "the list names nobody: {published}"
    );

    // A token of another session (a new login) verifies.
    let mut later = claims.clone();
    later.iat = now_seconds() + 1;
    later.nbf = later.iat;
    later.exp = later.iat + 900;
    later.sid = Some("family-3".into());
    assert!(verifier
        .verify(&issuer.key().sign(&later).unwrap())
        .await
        .is_ok());
}

async fn concurrent_unknown_key_ids_fetch_the_key_set_once(alg: SigningAlgorithm) {
    let first = SigningKey::generate(alg).unwrap();
    let published = Arc::new(Mutex::new(Jwks::of(&[&first])));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(published, hits.clone()).await;
    let verifier = Arc::new(Verifier::new(config(), KeySource::Url(url)).await.unwrap());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let stranger = SigningKey::generate(alg).unwrap();
    let token = stranger.sign(&claims(0, 900)).unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let verifier = verifier.clone();
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err(TokenError::UnknownKey));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "one fetch for 50 requests");
}

/// Serves `body` to every request.
async fn body_server(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 2048];
            let _ = socket.read(&mut buffer).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{body}"
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{address}/.well-known/jwks.json")
}

async fn an_oversized_key_set_is_refused(alg: SigningAlgorithm) {
    let key = SigningKey::generate(alg).unwrap();
    let mut document = Jwks::of(&[&key]).to_json();
    document["padding"] = "x".repeat(300 * 1024).into();
    let url = body_server(document.to_string()).await;
    let verifier = Verifier::new(config(), KeySource::Url(url)).await.unwrap();
    let error = verifier.refresh().await.unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
    assert_eq!(
        verifier.verify(&key.sign(&claims(0, 900)).unwrap()).await,
        Err(TokenError::UnknownKey),
        "no key from an oversized document"
    );
}

/// Every case runs once per signing algorithm.
macro_rules! for_each_algorithm {
    ($($case:ident),* $(,)?) => {
        mod rs256 {
            $(#[tokio::test]
            async fn $case() {
                super::$case(auth_tokens::SigningAlgorithm::RS256).await
            })*
        }
        mod eddsa {
            $(#[tokio::test]
            async fn $case() {
                super::$case(auth_tokens::SigningAlgorithm::EdDSA).await
            })*
        }
    };
}

for_each_algorithm!(
    the_algorithm_is_pinned_by_the_key_not_the_header,
    issued_tokens_verify_and_carry_every_claim,
    expiry_and_not_before_are_enforced_with_leeway,
    audience_and_issuer_must_match,
    tampered_tokens_are_rejected,
    alg_none_is_rejected,
    hs256_signed_with_the_public_key_is_rejected,
    key_ids_are_required_and_must_be_known,
    rotation_keeps_tokens_of_every_published_key_valid,
    missing_claims_are_rejected,
    pem_round_trip_keeps_the_key_id,
    an_unknown_key_id_refreshes_the_key_set_once,
    a_remembered_token_still_expires,
    critical_extensions_and_foreign_token_types_are_rejected,
    tokens_living_longer_than_the_maximum_are_rejected,
    revoked_sessions_and_users_are_refused_even_from_the_cache,
    concurrent_unknown_key_ids_fetch_the_key_set_once,
    an_oversized_key_set_is_refused,
);

/// Keys as the README tells operators to make them, with the `openssl` CLI.
#[tokio::test]
async fn keys_written_by_openssl_load_and_sign_with_their_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], SigningAlgorithm); 3] = [
        (
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "{out}",
            ],
            SigningAlgorithm::RS256,
        ),
        // PKCS#1; `genrsa` wants the size last.
        (
            &["genrsa", "-traditional", "-out", "{out}", "2048"],
            SigningAlgorithm::RS256,
        ),
        (
            &["genpkey", "-algorithm", "ed25519", "-out", "{out}"],
            SigningAlgorithm::EdDSA,
        ),
    ];
    for (i, (arguments, algorithm)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("key{i}.pem"));
        let status = std::process::Command::new("openssl")
            .args(
                arguments
                    .iter()
                    .map(|a| a.replace("{out}", path.to_str().unwrap())),
            )
            .stderr(std::process::Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            test_support::skip("the openssl CLI is not installed");
            return;
        }
        let key = SigningKey::from_pem_file(&path).unwrap();
        assert_eq!(key.algorithm(), algorithm, "{arguments:?}");
        // A protected service configured with the public half only, as openssl writes it.
        let public = dir.path().join(format!("key{i}.pub.pem"));
        let exported = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&path)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap();
        assert!(exported.success());
        let from_public = Jwks::from_file(&public).unwrap();
        assert_eq!(from_public, Jwks::of(&[&key]), "same key, same kid");
        let verifier = Verifier::new(config(), KeySource::Static(from_public))
            .await
            .unwrap();
        assert!(verifier
            .verify(&key.sign(&claims(0, 900)).unwrap())
            .await
            .is_ok());
    }
    let weak = dir.path().join("weak.pem");
    std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&weak)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let error = SigningKey::from_pem_file(&weak).unwrap_err().to_string();
    assert!(error.contains("weak.pem"), "{error}");
    let jwks_file = dir.path().join("jwks.json");
    let key = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    std::fs::write(&jwks_file, Jwks::of(&[&key]).to_json().to_string()).unwrap();
    assert_eq!(Jwks::from_file(&jwks_file).unwrap(), Jwks::of(&[&key]));
    let error = Jwks::from_file(&weak).unwrap_err().to_string();
    assert!(error.contains("weak.pem"), "{error}");
}
