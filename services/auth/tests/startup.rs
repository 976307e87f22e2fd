//! Start-up rules: no default secret, an idempotent first admin, rotation keys published.

mod common;

use auth::AuthArgs;
use auth_tokens::{SigningAlgorithm, SigningKey};

fn args(dir: &std::path::Path) -> AuthArgs {
    common::args(dir.join("auth.db").display().to_string(), None)
}

#[tokio::test]
async fn refuses_to_start_without_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = args(dir.path()).settings().unwrap_err();
    assert!(err.to_string().starts_with("no signing key"), "{err}");
    assert!(!dir.path().join("auth.db").exists(), "nothing created");
}

#[tokio::test]
async fn first_admin_is_created_once_and_weak_admin_passwords_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = args(dir.path());
    config.dev_ephemeral_key = true;
    let state = auth::build_state(&config.settings().unwrap())
        .await
        .unwrap();
    let admin = state.store.user("admin").await.unwrap().unwrap();
    drop(state);
    // A second start with another password changes nothing.
    config.admin_password = Some("another-password-456".into());
    let state = auth::build_state(&config.settings().unwrap())
        .await
        .unwrap();
    assert_eq!(state.store.user("admin").await.unwrap().unwrap(), admin);
    assert_eq!(state.store.users().await.unwrap().len(), 1);
    drop(state);
    // A password the policy refuses is refused on every start, the admin existing or not.
    config.admin_password = Some("short".into());
    let err = auth::build_state(&config.settings().unwrap())
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("is refused"), "{err:#}");

    let fresh = tempfile::tempdir().unwrap();
    let mut weak = args(fresh.path());
    weak.dev_ephemeral_key = true;
    weak.admin_password = Some("short".into());
    let err = auth::build_state(&weak.settings().unwrap())
        .await
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains(
            "the first admin's password (ADMIN_PASSWORD or ADMIN_PASSWORD_FILE) is refused"
        ),
        "{err:#}"
    );
}

/// The first admin's password is checked before a database is opened: a file that is not
/// there, an empty one, a weak one; a good one is read without its line ending.
#[tokio::test]
async fn the_first_admins_password_is_checked_before_the_database_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = args(dir.path());
    config.dev_ephemeral_key = true;
    config.admin_password = None;
    let file = dir.path().join("admin_password");
    config.admin_password_file = Some(file.clone());
    let refused = |config: &AuthArgs| {
        format!(
            "{:#}",
            auth::check_first_admin(&config.settings().unwrap()).unwrap_err()
        )
    };
    let err = refused(&config);
    assert!(err.contains("cannot read ADMIN_PASSWORD_FILE"), "{err}");
    for weak in ["", "\n", "short\r\n"] {
        std::fs::write(&file, weak).unwrap();
        let err = refused(&config);
        assert!(err.contains("is refused"), "{weak:?}: {err}");
    }

    std::fs::write(&file, "a-long-enough-password\r\n").unwrap();
    let settings = config.settings().unwrap();
    auth::check_first_admin(&settings).unwrap();
    let state = auth::build_state(&settings).await.unwrap();
    let admin = state.store.user("admin").await.unwrap().unwrap();
    assert!(auth::passwords::verify(
        "a-long-enough-password",
        &admin.password_hash
    ));
}

#[tokio::test]
async fn previous_keys_stay_published_for_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (current, previous) = (
        SigningKey::generate(SigningAlgorithm::RS256).unwrap(),
        // Rotation may change the algorithm too.
        SigningKey::generate(SigningAlgorithm::EdDSA).unwrap(),
    );
    let current_file = dir.path().join("current.pem");
    let previous_file = dir.path().join("previous.pem");
    std::fs::write(&current_file, current.to_pem()).unwrap();
    std::fs::write(&previous_file, previous.to_pem()).unwrap();
    let mut config = args(dir.path());
    config.signing_key_file = Some(current_file);
    config.previous_key_files = vec![previous_file];
    let state = auth::build_state(&config.settings().unwrap())
        .await
        .unwrap();
    let kids: Vec<String> = state.jwks.to_json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, [current.kid(), previous.kid()]);
    // A token from before the rotation still verifies.
    let old_token = auth_tokens::Issuer::new(previous, "seizure-ops-auth", "seizure-ops", 900)
        .issue("admin", auth_tokens::Role::Admin)
        .unwrap()
        .0;
    assert!(state.verifier.verify(&old_token).await.is_ok());
}

/// The configuration is logged and printed in errors as `Debug`: the admin password is not.
#[test]
fn the_admin_password_never_shows_in_debug_output() {
    use clap::Parser;
    let parsed = auth::Cli::try_parse_from([
        "auth",
        "--admin-username",
        "admin",
        "--admin-password",
        "sekrit-Password-42",
    ])
    .unwrap();
    let shown = format!(
        "{:?} {:?}",
        parsed.args,
        common::args("auth.db".into(), None)
    );
    assert!(!shown.contains("sekrit-Password-42"), "{shown}");
    assert!(!shown.contains(common::ADMIN_PASSWORD), "{shown}");
    assert!(
        shown.contains("admin_password"),
        "the field is there, redacted: {shown}"
    );
}

/// The auth binary checks the first admin's password before it opens (creates) its database.
#[test]
fn the_binary_refuses_an_unreadable_admin_password_file_before_its_database_exists() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("auth.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auth"))
        .env_clear()
        .args(["--dev-ephemeral-key", "--listen", "127.0.0.1:0"])
        .args(["--admin-username", "admin"])
        .args(["--admin-password-file", "/nonexistent/admin_password"])
        .arg("--database-url")
        .arg(&database)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot read ADMIN_PASSWORD_FILE /nonexistent/admin_password"),
        "{stderr}"
    );
    assert!(!database.exists(), "the database was opened first");
}
