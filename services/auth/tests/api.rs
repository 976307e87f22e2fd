//! The auth service over HTTP: every endpoint and error, on a real SQLite database and on a
//! real PostgreSQL server (started by ./scripts/test.sh, which exports POSTGRES_TEST_URL).

use auth_tokens::{now_seconds, SigningAlgorithm, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use test_support::http::JsonClient;

mod common;

use common::{ADMIN, ADMIN_PASSWORD};

struct TestApp {
    api: JsonClient,
    /// The service's signing key, so tests can forge tokens with it.
    key: SigningKey,
    _dir: tempfile::TempDir,
}

async fn spawn_app(postgres: Option<&str>) -> TestApp {
    spawn_app_with(postgres, |_| {}).await
}

/// The service on a fresh database (SQLite, or a fresh database on the PostgreSQL test
/// server), with `configure` applied to the test configuration.
async fn spawn_app_with(
    postgres: Option<&str>,
    configure: impl FnOnce(&mut auth::AuthArgs),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match postgres {
        Some(server) => test_support::fresh_postgres_database(server, "auth_test").await,
        None => dir.path().join("auth.db").display().to_string(),
    };
    let key = SigningKey::generate(SigningAlgorithm::RS256).unwrap();
    let key_file = dir.path().join("signing-key.pem");
    std::fs::write(&key_file, key.to_pem()).unwrap();
    let mut args = common::args(database_url, Some(key_file));
    configure(&mut args);
    let state = auth::build_state(&args.settings().unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(auth::serve(listener, state, std::future::pending()));
    TestApp {
        api: JsonClient::new(base),
        key,
        _dir: dir,
    }
}

/// The shared JSON helpers (`get`, `post`, `delete`, `text`) on this app's address.
impl std::ops::Deref for TestApp {
    type Target = JsonClient;

    fn deref(&self) -> &JsonClient {
        &self.api
    }
}

impl TestApp {
    async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/login",
            json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// The raw answer to a login (headers included).
    async fn login_response(&self, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// A verifier as another service builds one: keys from this service's JWKS URL.
    async fn remote_verifier(&self) -> auth_tokens::Verifier {
        auth_tokens::Verifier::new(
            auth_tokens::VerifierConfig::for_audience(auth_tokens::TokenAudience::default()),
            auth_tokens::KeySource::Url(format!("{}/.well-known/jwks.json", self.base)),
        )
        .await
        .unwrap()
    }

    async fn admin_token(&self) -> String {
        let (status, body) = self.login(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

async fn login_returns_tokens_and_me_reads_them(app: TestApp) {
    let (status, body) = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 64);
    let token = body["access_token"].as_str().unwrap();
    let (status, me) = app.get("/me", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some(ADMIN), Some("admin"))
    );
}

async fn bad_credentials_get_the_same_answer_for_unknown_users(app: TestApp) {
    let wrong = app.login(ADMIN, "not the password").await;
    let unknown = app.login("nobody", "not the password").await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1["error"], "invalid_credentials");
}

async fn malformed_bodies_are_400_with_json(app: TestApp) {
    let response = app
        .http
        .post(format!("{}/login", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    let (status, body) = app.post("/login", json!({"username": "x"}), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The body limit is part of the router: served by plain `axum::serve` (not `auth::serve`), a
/// body over 16 KiB is still refused before it is read whole.
#[tokio::test]
async fn the_router_alone_refuses_bodies_over_16_kib() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = common::args(dir.path().join("auth.db").display().to_string(), None);
    args.dev_ephemeral_key = true;
    let state = auth::build_state(&args.settings().unwrap()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = JsonClient::new(format!("http://{}", listener.local_addr().unwrap()));
    let app =
        auth::api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let huge = json!({"username": ADMIN, "password": "p".repeat(17 * 1024)});
    let (status, body) = api.post("/login", huge, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "payload_too_large", "{body}");
    // Below it, the same login is answered (its password is wrong).
    let (status, body) = api
        .post(
            "/login",
            json!({"username": ADMIN, "password": "p".repeat(64)}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

async fn oauth2_token_endpoint_supports_password_and_refresh_grants(app: TestApp) {
    let url = format!("{}/token", app.base);
    let response = app
        .http
        .post(&url)
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let response = app
        .http
        .post(&url)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .http
        .post(&url)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

async fn refresh_rotates_and_reuse_revokes_the_family(app: TestApp) {
    let (_, first) = app.login(ADMIN, ADMIN_PASSWORD).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = app
        .post("/refresh", json!({"refresh_token": r1}), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    // Presenting r1 again: reuse, so the whole family (r2 too) is revoked.
    let (status, body) = app
        .post("/refresh", json!({"refresh_token": r1}), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("reuse detected"),
        "{body}"
    );
    let (status, _) = app
        .post("/refresh", json!({"refresh_token": r2}), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn logout_revokes_the_refresh_token(app: TestApp) {
    let (_, tokens) = app.login(ADMIN, ADMIN_PASSWORD).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let response = app
        .http
        .post(format!("{}/logout", app.base))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = app
        .post("/refresh", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn only_admins_manage_users(app: TestApp) {
    let admin = app.admin_token().await;
    let new = json!({"username": "grace", "password": "clinician-pass-1", "role": "clinician"});
    let (status, body) = app.post("/users", new.clone(), Some(&admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], "clinician");
    let (status, body) = app.post("/users", new, Some(&admin)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let weak = json!({"username": "weak", "password": "short", "role": "clinician"});
    let (status, body) = app.post("/users", weak, Some(&admin)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "weak_password");

    let (_, tokens) = app.login("grace", "clinician-pass-1").await;
    let clinician = tokens["access_token"].as_str().unwrap();
    let other = json!({"username": "mallory", "password": "long enough pw", "role": "admin"});
    let (status, body) = app.post("/users", other, Some(clinician)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    assert_eq!(
        app.get("/users", Some(clinician)).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, users) = app.get("/users", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "grace"]);
    assert!(
        !users.to_string().contains("argon2"),
        "hashes never leave the service"
    );

    // Deleting grace revokes her refresh tokens.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.delete("/users/grace", &admin).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post("/refresh", json!({"refresh_token": refresh}), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete("/users/grace", &admin).await,
        StatusCode::NOT_FOUND
    );
}

async fn protected_routes_need_a_valid_bearer_token(app: TestApp) {
    let (status, body) = app.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = app.get("/me", Some("garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = app.admin_token().await;
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        app.get("/me", Some(&tampered)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn repeated_failures_are_throttled_with_retry_after(app: TestApp) {
    for _ in 0..5 {
        assert_eq!(
            app.login(ADMIN, "wrong password!").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.login_response(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
}

async fn jwks_verifies_issued_tokens_and_health_answers(app: TestApp) {
    let (status, jwks) = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(jwks["keys"][0]["kid"], app.key.kid());
    let verifier = app.remote_verifier().await;
    let claims = verifier.verify(&app.admin_token().await).await.unwrap();
    assert_eq!(claims.sub, ADMIN);
    assert_eq!(app.get("/health/live", None).await.0, StatusCode::OK);
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    assert_eq!(app.get("/nowhere", None).await.0, StatusCode::NOT_FOUND);
}

async fn metrics_count_requests_logins_and_tokens(app: TestApp) {
    app.login(ADMIN, "wrong password!").await;
    app.admin_token().await;
    app.get("/users/someone", None).await;
    let text = app.text("/metrics").await;
    for line in [
        r#"auth_logins_total{outcome="invalid_credentials"} 1"#,
        r#"auth_logins_total{outcome="success"} 1"#,
        "auth_tokens_issued_total 1",
        r#"http_requests_total{method="POST",route="/login",status="200"} 1"#,
        r#"http_requests_total{method="POST",route="/login",status="401"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(!text.contains("someone"), "raw paths never become labels");
    assert!(!text.contains(ADMIN_PASSWORD));
}

async fn forged_tokens_are_refused_over_http(app: TestApp) {
    let now = now_seconds();
    let claims = |exp: u64, aud: &str| {
        json!({"sub": ADMIN, "role": "admin", "iat": now, "nbf": now - 10, "exp": exp,
               "iss": "seizure-ops-auth", "aud": aud, "jti": "forged"})
    };
    let valid = app.key.sign(&claims(now + 600, "seizure-ops")).unwrap();
    assert_eq!(
        app.get("/me", Some(&valid)).await.0,
        StatusCode::OK,
        "the key is the service's"
    );
    let cases = [
        (
            "expired",
            app.key.sign(&claims(now - 120, "seizure-ops")).unwrap(),
            "expired",
        ),
        (
            "wrong audience",
            app.key.sign(&claims(now + 600, "elsewhere")).unwrap(),
            "audience",
        ),
    ];
    for (name, token, reason) in cases {
        let (status, body) = app.get("/me", Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{name}: {body}"
        );
    }
    let payload = URL_SAFE_NO_PAD.encode(claims(now + 600, "seizure-ops").to_string());
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": app.key.kid()}).to_string());
    let (status, body) = app
        .get("/me", Some(&format!("{none_header}.{payload}.")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("algorithm none"),
        "{body}"
    );
    // HS256 "signed" with the published public key.
    let (_, jwks) = app.get("/.well-known/jwks.json", None).await;
    let public_modulus = jwks["keys"][0]["n"].as_str().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(app.key.kid().to_owned());
    let confused = jsonwebtoken::encode(
        &header,
        &claims(now + 600, "seizure-ops"),
        &jsonwebtoken::EncodingKey::from_secret(public_modulus.as_bytes()),
    )
    .unwrap();
    let (status, body) = app.get("/me", Some(&confused)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("HS256"),
        "{body}"
    );
}

async fn openapi_document_and_docs_page_cover_every_endpoint(app: TestApp) {
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/login",
        "/token",
        "/refresh",
        "/logout",
        "/me",
        "/users",
        "/users/{username}",
        "/.well-known/jwks.json",
        "/.well-known/revocations.json",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let page = app
        .http
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("https://"),
        "nothing from the internet: {html}"
    );
    let initializer = app.text("/docs/swagger-initializer.js").await;
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    let bundle = app
        .http
        .get(format!("{}/docs/swagger-ui-bundle.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the real bundle"
    );
}

/// A client whose connections come from `address` (any 127.x.y.z reaches the server).
fn client_from(address: &str) -> Client {
    Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, client: &Client, username: &str, password: &str) -> StatusCode {
    client
        .post(format!("{}/login", app.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn concurrent_wrong_logins_cannot_slip_under_the_limit(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login(ADMIN, "wrong password!").await })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().0);
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        (1..=5).contains(&checked),
        "at most the limit of 5 passwords were checked, not {checked}: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| [
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE
    ]
    .contains(s)));
}

async fn a_clean_address_is_not_locked_out_by_failures_elsewhere(app: TestApp) {
    let admin = app.admin_token().await;
    let new = json!({"username": "grace", "password": "clinician-pass-1", "role": "clinician"});
    assert_eq!(
        app.post("/users", new, Some(&admin)).await.0,
        StatusCode::CREATED
    );
    let attacker = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, &attacker, ADMIN, "wrong password!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, &attacker, ADMIN, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address is throttled for this user"
    );
    let clinic = client_from("127.0.0.3");
    assert_eq!(
        login_from(&app, &clinic, ADMIN, ADMIN_PASSWORD).await,
        StatusCode::OK,
        "the admin from a clean address is not locked out"
    );
    assert_eq!(
        login_from(&app, &attacker, "grace", "clinician-pass-1").await,
        StatusCode::OK,
        "other accounts from that address are not locked either"
    );
}

async fn failures_add_a_progressive_delay() {
    // A window long enough that a slow, loaded machine still answers the third attempt
    // inside it (a 1 s window made this test flaky under CI load).
    let app = spawn_app_with(None, |args| args.backoff_seconds = 5).await;
    assert_eq!(
        app.login(ADMIN, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(ADMIN, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
    // After the second failure the next attempt must wait, even with the right password.
    let response = app.login_response(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 300)).await;
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.0, StatusCode::OK);
    // Success clears the record: two more failures in a row are answered 401 again.
    assert_eq!(
        app.login(ADMIN, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(ADMIN, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn parallel_refreshes_have_one_winner_and_reuse_kills_the_whole_family(app: TestApp) {
    let app = std::sync::Arc::new(app);
    for trial in 0..6 {
        let (_, tokens) = app.login(ADMIN, ADMIN_PASSWORD).await;
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let racers: Vec<_> = (0..10)
            .map(|_| {
                let app = app.clone();
                let refresh = refresh.clone();
                tokio::spawn(async move {
                    app.post("/refresh", json!({"refresh_token": refresh}), None)
                        .await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (status, body) = racer.await.unwrap();
            if status == StatusCode::OK {
                winners.push(body);
            } else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            }
        }
        assert!(
            winners.len() <= 1,
            "trial {trial}: {} winners",
            winners.len()
        );
        // Every loser presented a used token: the family is revoked, the winner's new
        // refresh token and access token included.
        for winner in winners {
            let next = winner["refresh_token"].as_str().unwrap();
            let (status, body) = app
                .post("/refresh", json!({"refresh_token": next}), None)
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "trial {trial}: {body}");
            let access = winner["access_token"].as_str().unwrap();
            assert_eq!(
                app.get("/me", Some(access)).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
    }
}

async fn logout_and_deletion_stop_access_tokens_before_they_expire(app: TestApp) {
    let (_, tokens) = app.login(ADMIN, ADMIN_PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (_, other_session) = app.login(ADMIN, ADMIN_PASSWORD).await;
    let other_access = other_session["access_token"].as_str().unwrap();
    assert_eq!(app.get("/me", Some(access)).await.0, StatusCode::OK);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = app
        .post("/logout", json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/me", Some(access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert_eq!(
        app.get("/me", Some(other_access)).await.0,
        StatusCode::OK,
        "logout ends one session, not the others"
    );

    let new = json!({"username": "grace", "password": "clinician-pass-1", "role": "clinician"});
    assert_eq!(
        app.post("/users", new, Some(other_access)).await.0,
        StatusCode::CREATED
    );
    let (_, grace) = app.login("grace", "clinician-pass-1").await;
    let grace_access = grace["access_token"].as_str().unwrap();
    assert_eq!(app.get("/me", Some(grace_access)).await.0, StatusCode::OK);
    assert_eq!(
        app.delete("/users/grace", other_access).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/me", Some(grace_access)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (status, list) = app.get("/.well-known/revocations.json", None).await;
    assert_eq!(status, StatusCode::OK);
    // The logged-out session, and the deleted user's session: random session ids only,
    // nothing that names a person (not even a hash of the username).
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
    let fields: Vec<&String> = list.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["sessions"], "{list}");
    let grace_hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"grace")
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        !list.to_string().contains("grace") && !list.to_string().contains(&grace_hash),
        "the list names the deleted user: {list}"
    );

    // Another service polling the list refuses the same tokens.
    let verifier = app.remote_verifier().await;
    assert!(
        verifier.verify(grace_access).await.is_ok(),
        "before polling"
    );
    verifier
        .fetch_revocations(&format!("{}/.well-known/revocations.json", app.base))
        .await
        .unwrap();
    assert_eq!(
        verifier.verify(grace_access).await,
        Err(auth_tokens::TokenError::Revoked)
    );
    assert_eq!(
        verifier.verify(access).await,
        Err(auth_tokens::TokenError::Revoked)
    );
    assert!(verifier.verify(other_access).await.is_ok());
}

async fn hostile_usernames_and_passwords_are_refused_before_use(app: TestApp) {
    for username in [
        "eve\n2026-12-01T00:00:00Z  INFO login attempt username=admin succeeded=true".to_owned(),
        "\u{1b}[2Jadmin".to_owned(),
        "x".repeat(10_000),
        String::new(),
    ] {
        let (status, body) = app.login(&username, "whatever password").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "invalid_username");
    }
    let (status, body) = app.login(ADMIN, &"p".repeat(5000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A body no login needs is refused before it is read whole.
    let (status, body) = app.login(&"x".repeat(100_000), "whatever password").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "payload_too_large");
    let admin = app.admin_token().await;
    assert_eq!(
        app.delete("/users/..%2F..%2Fetc", &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn token_answers_are_never_cached_and_never_sniffed(app: TestApp) {
    let response = app.login_response(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let error = app
        .http
        .get(format!("{}/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(error.headers()["x-content-type-options"], "nosniff");
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

/// The page of a configured origin (inference's /ui/) logs in across origins; any other
/// origin's page gets no CORS answer (it cannot read a login's result), nor does user
/// management; without configuration no origin does.
#[tokio::test]
async fn only_configured_page_origins_may_log_in_across_origins() {
    let page = "http://127.0.0.1:8002";
    let app = spawn_app_with(None, |args| {
        args.cors_allowed_origins = vec![page.into(), " http://localhost:8002/ ".into()];
    })
    .await;
    for path in ["/login", "/refresh", "/logout", "/me"] {
        let answer = preflight(&app, path, page).await;
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        let headers = answer.headers();
        assert_eq!(headers["access-control-allow-origin"], page, "{path}");
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    let localhost = preflight(&app, "/login", "http://localhost:8002").await;
    assert_eq!(
        localhost.headers()["access-control-allow-origin"],
        "http://localhost:8002"
    );
    let login = app
        .http
        .post(format!("{}/login", app.base))
        .header("origin", page)
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["access-control-allow-origin"], page);
    for origin in ["http://evil.example", "http://127.0.0.1:8003", "null"] {
        let answer = preflight(&app, "/login", origin).await;
        assert!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin} allowed"
        );
    }
    let users = preflight(&app, "/users", page).await;
    assert!(users.headers().get("access-control-allow-origin").is_none());

    let unconfigured = spawn_app(None).await;
    let answer = preflight(&unconfigured, "/login", page).await;
    assert!(answer
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    for bad in ["*", "http://host;x", "http://host/path", "javascript:x"] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = common::args(dir.path().join("auth.db").display().to_string(), None);
        args.dev_ephemeral_key = true;
        args.cors_allowed_origins = vec![bad.into()];
        let error = args.settings().expect_err("refused");
        assert!(
            error.to_string().contains("CORS_ALLOWED_ORIGINS"),
            "{bad}: {error}"
        );
    }
}

/// Every case above, once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::spawn_app(None).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(server) = test_support::postgres_server() else {
                        return;
                    };
                    super::$case(super::spawn_app(Some(&server)).await).await
                }
            )*
        }
    };
}

on_both_databases!(
    login_returns_tokens_and_me_reads_them,
    bad_credentials_get_the_same_answer_for_unknown_users,
    malformed_bodies_are_400_with_json,
    oauth2_token_endpoint_supports_password_and_refresh_grants,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_refresh_token,
    only_admins_manage_users,
    protected_routes_need_a_valid_bearer_token,
    repeated_failures_are_throttled_with_retry_after,
    jwks_verifies_issued_tokens_and_health_answers,
    metrics_count_requests_logins_and_tokens,
    forged_tokens_are_refused_over_http,
    openapi_document_and_docs_page_cover_every_endpoint,
    concurrent_wrong_logins_cannot_slip_under_the_limit,
    a_clean_address_is_not_locked_out_by_failures_elsewhere,
    parallel_refreshes_have_one_winner_and_reuse_kills_the_whole_family,
    logout_and_deletion_stop_access_tokens_before_they_expire,
    hostile_usernames_and_passwords_are_refused_before_use,
    token_answers_are_never_cached_and_never_sniffed,
);

#[tokio::test]
async fn progressive_delay_after_repeated_failures() {
    failures_add_a_progressive_delay().await
}
