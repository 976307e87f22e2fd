//! Access-token verification per second, in process, one thread, for each signing algorithm:
//! a token seen for the first time (header, key lookup, signature, claims) and a client's
//! repeated token (remembered verification, time claims re-checked); the bare signature
//! check beside it, and issuing.
//!
//! `cargo bench -p auth-tokens --bench verify`.

use auth_tokens::{
    Issuer, Jwks, KeySource, Role, SigningAlgorithm, SigningKey, Verifier, VerifierConfig,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tokens");
    group.throughput(Throughput::Elements(1));
    for algorithm in [SigningAlgorithm::RS256, SigningAlgorithm::EdDSA] {
        let issuer = Issuer::new(
            SigningKey::generate(algorithm).unwrap(),
            "auth",
            "fleet",
            900,
        );
        let verifier = runtime
            .block_on(Verifier::new(
                VerifierConfig {
                    issuer: "auth".into(),
                    audience: "fleet".into(),
                    leeway_seconds: 30,
                    max_lifetime_seconds: auth_tokens::DEFAULT_MAX_LIFETIME_SECONDS,
                },
                KeySource::Static(Jwks::of(&[issuer.key()])),
            ))
            .unwrap();
        let (token, _) = issuer.issue("ada", Role::Clinician).unwrap();
        // Distinct tokens, so every check does the full signature verification.
        let fresh: Vec<String> = (0..20_000)
            .map(|_| issuer.issue("ada", Role::Clinician).unwrap().0)
            .collect();
        let mut next = 0;
        group.bench_function(format!("{algorithm}/verify_new_token"), |b| {
            b.iter(|| {
                next = (next + 1) % fresh.len();
                verifier.verify_with_known_keys(&fresh[next]).unwrap()
            })
        });
        group.bench_function(format!("{algorithm}/verify_repeated_token"), |b| {
            b.iter(|| verifier.verify_with_known_keys(&token).unwrap())
        });
        group.bench_function(format!("{algorithm}/issue"), |b| {
            b.iter(|| issuer.issue("ada", Role::Clinician).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
