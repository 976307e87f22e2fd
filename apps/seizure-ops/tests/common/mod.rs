//! What the seizure-ops integration tests share: the binary, a running `up` / `serve`, logins.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_seizure-ops");

pub fn seizure_ops(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(home)
        .env("SEIZURE_OPS_HOME", home)
        .env("RUST_LOG", "warn")
        .env_remove("RAW_CSV")
        .env_remove("ADMIN_PASSWORD")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("DVC_REMOTE_URL")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_PASSWORD_FILE")
        .env_remove("LOG_SPANS")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("FANOUT_GROUP")
        .env_remove("FANOUT_SOURCE")
        .env("MIN_SENSITIVITY", TINY_MODEL_MIN_SENSITIVITY);
    command
}

/// The quick runs here train one epoch on 230 synthetic rows: a plumbing fixture whose
/// sensitivity at 98% specificity (0.80-0.91 by seed) straddles the production floor of 0.90.
/// These tests are about the fleet, not the model, so they lower that one floor; the floors
/// themselves are tested in tests/pipeline/tests/promotion.rs and evaluate's unit tests.
pub const TINY_MODEL_MIN_SENSITIVITY: &str = "0.5";

/// One epoch on 230 rows of a small synthetic set: the quick runs' settings.
pub const QUICK: [&str; 6] = [
    "--epochs",
    "1",
    "--max-train-rows",
    "230",
    "--synthetic-segments-per-class",
    "10",
];
pub const ANY_PORTS: [&str; 4] = [
    "--auth-listen",
    "127.0.0.1:0",
    "--inference-listen",
    "127.0.0.1:0",
];

/// A running `up` or `serve`, with what it printed before "Ctrl-C stops both services.".
pub struct Running {
    pub child: Child,
    pub banner: String,
}

impl Running {
    pub fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .ok();
                panic!("seizure-ops exited before serving:\n{banner}\nstderr:\n{stderr}");
            }
            banner.push_str(&line);
            if line.starts_with("Ctrl-C stops both services") {
                break;
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self { child, banner }
    }

    /// `seizure-ops up` in `home` on synthetic data, 1 epoch, any free ports.
    pub fn quick_up(home: &Path) -> Self {
        Self::start(seizure_ops(home).arg("up").args(QUICK).args(ANY_PORTS))
    }

    /// [`Running::quick_up`] with the fleet's drift window fed by one user (the admin these
    /// tests log in as): no share per user (`DRIFT_MAX_USER_SHARE=1`).
    pub fn quick_up_one_feeder(home: &Path) -> Self {
        Self::start(
            seizure_ops(home)
                .env("DRIFT_MAX_USER_SHARE", "1")
                .arg("up")
                .args(QUICK)
                .args(ANY_PORTS),
        )
    }

    /// The URL printed after `label` (e.g. "auth").
    pub fn url(&self, label: &str) -> String {
        self.banner
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {label} URL in:\n{}", self.banner))
            .to_owned()
    }

    /// The patient id of the printed predict example.
    pub fn example_patient(&self) -> u64 {
        let inference = self.url("inference");
        self.banner
            .split(&format!("{inference}/predict/"))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a predict example")
            .parse()
            .unwrap()
    }

    /// The admin password printed on first start.
    pub fn generated_password(&self) -> String {
        self.banner
            .lines()
            .find_map(|l| l.split("with password ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the generated admin password is printed")
            .to_owned()
    }

    /// Ctrl-C, and the process's stderr once it has exited.
    pub fn interrupt(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            status.success(),
            "exit {status} after Ctrl-C; stderr:\n{stderr}"
        );
        stderr
    }
}

impl Drop for Running {
    // A failed assertion must not leave the servers running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn login(http: &Client, auth: &str, password: &str) -> String {
    login_as(http, auth, "admin", password)
}

/// An access token of `username`.
pub fn login_as(http: &Client, auth: &str, username: &str, password: &str) -> String {
    let answer = http
        .post(format!("{auth}/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
