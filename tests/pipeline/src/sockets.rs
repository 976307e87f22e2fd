//! Hostile monitoring-socket clients for tests: `clients/monitor_ws_attack.py` (the
//! `websockets` package from PyPI) run once, or held open while a test checks the service.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::serving::App;

pub fn script() -> PathBuf {
    test_support::workspace_root().join("tests/pipeline/clients/monitor_ws_attack.py")
}

/// `ws://.../monitor` of the app.
pub fn socket_url(app: &App) -> String {
    format!("{}/monitor", app.base.replace("http://", "ws://"))
}

/// Runs one attack (`spec.mode`) to its end and returns its report.
pub async fn attack(python: PathBuf, spec: Value) -> Value {
    tokio::task::spawn_blocking(move || {
        test_support::json_through_python(&python, &script(), &spec)
    })
    .await
    .unwrap()
}

/// A process holding sockets open (`"mode": "hold"`) until it is released.
pub struct Holder {
    child: std::process::Child,
    /// What the handshakes gave: `{"opened", "refused": {status: n}}`.
    pub report: Value,
}

impl Holder {
    /// Blocking: starts the client and waits for its report.
    pub fn open(python: &Path, spec: Value) -> Self {
        let mut child = std::process::Command::new(python)
            .arg(script())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{spec}").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let report = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        Self { child, report }
    }

    /// Blocking: closes the sockets and waits for the client to end.
    pub fn release(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}
