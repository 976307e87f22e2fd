//! Token verification against forged, expired, misdirected and rotated tokens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use auth_tokens::{
    now_seconds, Claims, Issuer, Jwks, KeySource, Role, SigningKey, TokenError, Verifier,
    VerifierConfig,
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
    }
}

#[tokio::test]
async fn issued_tokens_verify_and_carry_every_claim() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn expiry_and_not_before_are_enforced_with_leeway() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn audience_and_issuer_must_match() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn tampered_tokens_are_rejected() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn alg_none_is_rejected() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let key = SigningKey::generate().unwrap();
    let verifier = verifier_for(&[&key]).await;
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    let public_x = jwk["x"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    // An attacker who knows the public key tries it as an HMAC secret, in every encoding.
    for secret in [
        public_x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&public_x).unwrap(),
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

#[tokio::test]
async fn key_ids_are_required_and_must_be_known() {
    let key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let verifier = verifier_for(&[&key]).await;
    let token = stranger.sign(&claims(0, 900)).unwrap();
    assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    let header = Header::new(Algorithm::EdDSA);
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims(0, 900),
        &EncodingKey::from_ed_pem(key.to_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&no_kid).await,
        Err(TokenError::MissingKeyId)
    );
}

#[tokio::test]
async fn rotation_keeps_tokens_of_every_published_key_valid() {
    let old = SigningKey::generate().unwrap();
    let new = SigningKey::generate().unwrap();
    let verifier = verifier_for(&[&new, &old]).await;
    for key in [&old, &new] {
        assert!(verifier
            .verify(&key.sign(&claims(0, 900)).unwrap())
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn missing_claims_are_rejected() {
    let key = SigningKey::generate().unwrap();
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

#[test]
fn pem_round_trip_keeps_the_key_id() {
    let key = SigningKey::generate().unwrap();
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

#[tokio::test]
async fn an_unknown_key_id_refreshes_the_key_set_once() {
    let first = SigningKey::generate().unwrap();
    let rotated = SigningKey::generate().unwrap();
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
    let stranger = SigningKey::generate().unwrap();
    for _ in 0..5 {
        let token = stranger.sign(&claims(0, 900)).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "refreshes are rate-limited");
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let key = SigningKey::generate().unwrap();
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
