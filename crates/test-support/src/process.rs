//! Processes: running a command or one of the project's binaries, a free port for a child
//! to listen on, and this process's memory.

use std::path::Path;
use std::process::{Command, Output};

/// Runs binary `bin` in `dir` without an MLflow URI from the environment; returns its exit
/// code and trimmed stderr.
pub fn run_binary(bin: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// Runs a command and returns its output; panics with everything it printed if it fails.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A TCP port free on 127.0.0.1 now, for a child process to listen on (another process could
/// take it before the child binds; the child then fails to start, loudly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// This process's resident set size in KiB (Linux `/proc/self/status`), for memory tests.
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/self/status")
}
