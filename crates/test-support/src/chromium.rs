//! A real browser: headless Chromium, and playwright-core to drive it like a user.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{skip, tools_dir};

/// Headless Chromium (Debian's `chromium`, installed by `scripts/install-test-tools.sh`);
/// skips loudly when it is missing outside CI.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        skip("no Chromium (chromium)");
    }
    found.map(PathBuf::from)
}

/// The DOM of `url` after its scripts ran, as headless Chromium renders it, with every host
/// but 127.0.0.1 unresolvable (a network without internet), and what the browser logged
/// (console messages, refused resources).
pub fn render_page(chromium: &Path, url: &str) -> (String, String) {
    let profile = tempfile::tempdir().expect("a profile directory");
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium starts");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `node_modules` directory holding `playwright-core` (npm), which drives the system's
/// Chromium through a page like a user (installed by `scripts/install-test-tools.sh`); skips
/// loudly when it is missing outside CI.
pub fn playwright_core() -> Option<PathBuf> {
    let modules = tools_dir().join("node-playwright/node_modules");
    if modules.join("playwright-core/package.json").is_file() {
        Some(modules)
    } else {
        skip("no playwright-core (node-playwright)");
        None
    }
}
