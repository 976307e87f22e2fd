//! Third-party tools and servers the tests use for real (`./scripts/test.sh` installs or
//! starts them): dvc, MLflow, an S3-compatible server, schemathesis, and the project's tool
//! venvs in general. PostgreSQL, Chromium and the Python clients have their own modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{skip, tools_dir};

/// The real `dvc` CLI: `DVC_BIN`, the project's tool venv, or `dvc` on `PATH`.
pub fn dvc() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("DVC_BIN") {
        return Some(bin.into());
    }
    let venv = tools_dir().join("venv-dvc/bin/dvc");
    if venv.is_file() {
        return Some(venv);
    }
    Command::new("dvc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("dvc"))
}

/// Asserts that the real `dvc status` sees every output under `root` as up to date (skips
/// loudly without dvc, outside CI).
pub fn assert_dvc_status_clean(root: &Path) {
    let Some(dvc) = dvc() else {
        skip("the dvc CLI is not installed");
        return;
    };
    let status = Command::new(dvc)
        .current_dir(root)
        .args(["status", "-q"])
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .expect("dvc runs");
    assert_eq!(
        status.status.code(),
        Some(0),
        "dvc status reports changes:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
}

/// The MLflow server started by `./scripts/test.sh` (`MLFLOW_TEST_URI`).
pub fn mlflow_uri() -> Option<String> {
    std::env::var("MLFLOW_TEST_URI")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The S3-compatible test server (`S3_TEST_ENDPOINT`) and its bucket (`S3_TEST_BUCKET`), which
/// `scripts/test.sh` starts; skips loudly without it (fails under CI).
pub fn s3_server() -> Option<(String, String)> {
    let endpoint = std::env::var("S3_TEST_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    if endpoint.is_none() {
        skip("no S3-compatible server (S3_TEST_ENDPOINT)");
    }
    let bucket = std::env::var("S3_TEST_BUCKET").unwrap_or_else(|_| "seizure-ops-test".into());
    endpoint.map(|endpoint| (endpoint, bucket))
}

/// A key prefix no other test uses.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// schemathesis's `st` command, from the project's tool venv (or `ST_BIN`); skips loudly
/// when it is missing outside CI.
pub fn schemathesis() -> Option<PathBuf> {
    venv_tool(
        Some("ST_BIN"),
        "venv-schemathesis/bin/st",
        "no schemathesis (venv-schemathesis)",
    )
}

/// A program in one of the project's tool venvs (or at the path in `override_var`); skips
/// loudly, saying `missing`, when it is not there.
pub(crate) fn venv_tool(
    override_var: Option<&str>,
    relative: &str,
    missing: &str,
) -> Option<PathBuf> {
    let bin = override_var
        .and_then(std::env::var_os)
        .map(PathBuf::from)
        .unwrap_or_else(|| tools_dir().join(relative));
    if bin.is_file() {
        Some(bin)
    } else {
        skip(missing);
        None
    }
}
