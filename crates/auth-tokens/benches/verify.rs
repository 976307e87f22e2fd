//! Access-token verification per second, in process, one thread: a token seen for the first
//! time (header check, key lookup, Ed25519 signature, claim validation) and a client's repeated
//! token (remembered verification, time claims re-checked).
//!
//! `cargo bench -p auth-tokens --bench verify`.

use auth_tokens::{Issuer, Jwks, KeySource, Role, SigningKey, Verifier, VerifierConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer = Issuer::new(SigningKey::generate().unwrap(), "auth", "fleet", 900);
    let verifier = runtime
        .block_on(Verifier::new(
            VerifierConfig {
                issuer: "auth".into(),
                audience: "fleet".into(),
                leeway_seconds: 30,
            },
            KeySource::Static(Jwks::of(&[issuer.key()])),
        ))
        .unwrap();
    let (token, _) = issuer.issue("ada", Role::Clinician).unwrap();
    // Distinct tokens, so every check does the full signature verification.
    let fresh: Vec<String> = (0..50_000)
        .map(|_| issuer.issue("ada", Role::Clinician).unwrap().0)
        .collect();
    let mut group = c.benchmark_group("tokens");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("verify_new_token_full_signature_check", |b| {
        b.iter(|| {
            next = (next + 1) % fresh.len();
            verifier.verify_with_known_keys(&fresh[next]).unwrap()
        })
    });
    group.bench_function("verify_repeated_token", |b| {
        b.iter(|| verifier.verify_with_known_keys(&token).unwrap())
    });
    // The signature check alone, for comparison with the whole verification.
    let pkcs8 =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let message = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let signature = aws_lc_rs::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    let signed = pair.sign(&message);
    let public =
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, signature);
    group.bench_function("ed25519_signature_check_only", |b| {
        b.iter(|| public.verify(&message, signed.as_ref()).unwrap())
    });
    group.bench_function("issue_eddsa_access_token", |b| {
        b.iter(|| issuer.issue("ada", Role::Clinician).unwrap())
    });
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
