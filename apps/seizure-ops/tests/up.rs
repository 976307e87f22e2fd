//! `seizure-ops up` as a newcomer runs it: synthetic data (announced), the whole pipeline, both
//! APIs; then log in, predict, reload, Ctrl-C. And `pipeline` stopping at a bad input.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_seizure-ops");

fn seizure_ops(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(home)
        .env("SEIZURE_OPS_HOME", home)
        .env("RUST_LOG", "warn")
        .env_remove("RAW_CSV")
        .env_remove("ADMIN_PASSWORD")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("DATABASE_URL");
    command
}

const QUICK: [&str; 6] = [
    "--epochs",
    "1",
    "--max-train-rows",
    "230",
    "--synthetic-segments-per-class",
    "10",
];
const ANY_PORTS: [&str; 4] = [
    "--auth-listen",
    "127.0.0.1:0",
    "--inference-listen",
    "127.0.0.1:0",
];

/// A running `up` or `serve`, with what it printed before "Ctrl-C stops both services.".
struct Running {
    child: Child,
    banner: String,
}

impl Running {
    fn start(command: &mut Command) -> Self {
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

    /// The URL printed after `label` (e.g. "auth").
    fn url(&self, label: &str) -> String {
        self.banner
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {label} URL in:\n{}", self.banner))
            .to_owned()
    }

    /// Ctrl-C, and the process's stderr once it has exited.
    fn interrupt(mut self) -> String {
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

fn login(http: &Client, auth: &str, password: &str) -> String {
    let answer = http
        .post(format!("{auth}/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn up_runs_the_pipeline_serves_both_apis_and_stops_on_ctrl_c() {
    let home = tempfile::tempdir().unwrap();
    let up = Running::start(
        seizure_ops(home.path())
            .arg("up")
            .args(QUICK)
            .args(ANY_PORTS),
    );
    for stage in [
        "[1/4] preprocessing",
        "[2/4] training",
        "[3/4] evaluate/promote",
        "[4/4] patient-pull",
        "promoted seizure-lstm version 1",
        "pipeline finished",
    ] {
        assert!(up.banner.contains(stage), "{stage} missing:\n{}", up.banner);
    }
    let password = up
        .banner
        .lines()
        .find_map(|l| l.split("with password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the generated admin password is printed")
        .to_owned();
    let (auth, inference) = (up.url("auth"), up.url("inference"));
    let patient: u64 = up
        .banner
        .split(&format!("{inference}/predict/"))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a predict example")
        .parse()
        .unwrap();
    assert!(up.banner.contains(&format!("{inference}/reload-model")));

    let http = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = login(&http, &auth, &password);
    let prediction: Value = http
        .get(format!("{inference}/predict/{patient}"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(prediction["patient_id"], json!(patient));
    assert_eq!(prediction["model_version"], json!("1"));
    let probability = prediction["seizure_probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&probability), "{prediction}");

    let reload = http
        .post(format!("{inference}/reload-model"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(reload.status(), StatusCode::OK);
    let reload: Value = reload.json().unwrap();
    assert_eq!(reload["status"], "reloaded");
    assert_eq!(reload["new_version"], "1");

    let stderr = up.interrupt();
    assert!(stderr.contains("SYNTHETIC data set"), "{stderr}");

    // A second start keeps the admin (no new password) and the signing key.
    let again = Running::start(seizure_ops(home.path()).arg("serve").args(ANY_PORTS));
    assert!(!again.banner.contains("with password"), "{}", again.banner);
    assert!(again.banner.contains("YOUR-ADMIN-PASSWORD"));
    login(&http, &again.url("auth"), &password);
    again.interrupt();
}

#[test]
fn pipeline_stops_at_the_first_failing_stage_and_names_it() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.csv");
    std::fs::write(&bad, ",X1,y\nX1.V1.1,12,9\n").unwrap();
    let out = seizure_ops(home.path())
        .args(["pipeline", "--raw-csv"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pipeline stopped at stage 1/4 (preprocessing)"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.csv"), "{stderr}");
    assert!(!home.path().join("data").exists(), "nothing half-written");
    assert!(
        !home.path().join("models").exists(),
        "later stages did not run"
    );

    let missing = seizure_ops(home.path())
        .args(["pipeline", "--raw-csv", "nowhere.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr.contains("nowhere.csv"), "{stderr}");
}
