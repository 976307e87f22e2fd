//! Helpers for tests that use real third-party tools or the real data set.
//!
//! Such a test may skip only when run by hand without the tool, and says so loudly; under CI
//! (`CI` set) a missing tool fails the test instead. `./scripts/test.sh` installs every tool.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod http;

/// True under CI, where a missing tool or data file is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports a skipped test so that it cannot pass for a run: panics under CI; otherwise writes
/// straight to the process's stderr (libtest captures `eprintln!`, which a passing test never
/// shows, but not direct writes), naming the test, and appends a line to the file named by
/// `SEIZURE_OPS_SKIP_LOG` (set by `scripts/test.sh`, which counts and lists the skips at the
/// end of the run).
pub fn skip(reason: &str) {
    use std::io::Write as _;
    assert!(!in_ci(), "{reason}: required under CI");
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {reason} (./scripts/test.sh installs what the tests need)"
    );
    if let Ok(log) = std::env::var("SEIZURE_OPS_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// The repository root: the nearest directory with a `Cargo.lock` above the package under
/// test. Found at run time (cargo sets `CARGO_MANIFEST_DIR` for test processes), since a
/// shared target directory may hold a build compiled from another checkout of the repository.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&manifest_dir)
        .to_owned()
}

/// Where `scripts/install-test-tools.sh` puts its virtual environments.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SEIZURE_OPS_TOOLS") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/seizure-ops")
}

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

/// A TCP port free on 127.0.0.1 now, for a child process to listen on (another process could
/// take it before the child binds; the child then fails to start, loudly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

/// A key prefix no other test uses.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// The real UCI data set: `SEIZURE_OPS_REAL_CSV`, or `../shared/data/` beside the repository.
pub fn real_data_csv() -> Option<PathBuf> {
    let path = std::env::var_os("SEIZURE_OPS_REAL_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("../shared/data/epileptic_seizure_recognition.csv")
        });
    path.is_file().then_some(path)
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

/// The real data set for a test that needs it, or `None` after a visible [`skip`] (a failure
/// under CI, where `scripts/fetch-real-data.sh` or `../shared/data` provides it).
pub fn require_real_data() -> Option<PathBuf> {
    let csv = real_data_csv();
    if csv.is_none() {
        skip("the real UCI CSV is not in ../shared/data (or SEIZURE_OPS_REAL_CSV)");
    }
    csv
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

/// The PostgreSQL server the tests may use (`POSTGRES_TEST_URL`, set by `scripts/test.sh`);
/// skips loudly when it is missing outside CI.
pub fn postgres_server() -> Option<String> {
    let server = std::env::var("POSTGRES_TEST_URL").ok();
    if server.is_none() {
        skip("no PostgreSQL server (POSTGRES_TEST_URL)");
    }
    server
}

/// A new, empty database on the PostgreSQL server at `server_url`; returns its URL.
pub async fn fresh_postgres_database(server_url: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let suffix: String = (0..12)
        .map(|_| char::from(b'a' + (rand_byte() % 26)))
        .collect();
    let name = format!("{prefix}_{suffix}");
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .expect("the PostgreSQL test server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE works");
    let (base, _) = server_url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish() as u8
}

/// A PostgreSQL server of the test's own, started with `scripts/postgres-server.sh` on a
/// free port, so a test can stop and restart it (a real outage) without disturbing the
/// shared test server. Stopped on drop.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    /// Starts one, or skips loudly (outside CI) where PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        postgres_server()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The server runs as the postgres user, which must reach its data directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = Self { dir, port };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn script(&self, action: &str) {
        let script = workspace_root().join("scripts/postgres-server.sh");
        let data = self.dir.path().join("server");
        run_ok(
            Command::new(script)
                .arg(action)
                .arg(&data)
                .arg(self.port.to_string()),
        );
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn pause(&self) {
        self.script("stop");
    }

    /// Starts it (again), waiting until it accepts connections.
    pub fn resume(&self) {
        self.script("start");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.pause();
    }
}

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

/// The Python of the venv holding Triton's HTTP client (`tritonclient[http]`, an Open
/// Inference Protocol client), from the project's tools; skips loudly when it is missing
/// outside CI.
pub fn tritonclient_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-tritonclient/bin/python",
        "no tritonclient (venv-tritonclient)",
    )
}

/// Runs `python script` with `input` as JSON on its standard input and returns what it prints
/// on standard output, parsed as JSON (the project's Python clients speak this way). Panics,
/// naming the script, when it fails.
pub fn json_through_python(
    python: &Path,
    script: &Path,
    input: &serde_json::Value,
) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
    child
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(input.to_string().as_bytes())
        .expect("the script reads its input");
    let output = child.wait_with_output().expect("the script ends");
    assert!(output.status.success(), "{} failed", script.display());
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{} printed no JSON: {e}", script.display()))
}

/// The Python of the scoring venv: `timescoring` (the SzCORE event scorer) and scipy.
pub fn scoring_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-scoring/bin/python",
        "no timescoring/scipy Python (venv-scoring)",
    )
}

/// The Python of the websockets venv: a WebSocket client the project did not write.
pub fn websockets_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-websockets/bin/python",
        "no websockets Python (venv-websockets)",
    )
}

/// The Python of the MLflow venv, which also holds `onnx` and `onnxruntime` (what MLflow's
/// `onnx` flavour loads with); skips loudly when it is missing outside CI.
pub fn mlflow_python() -> Option<PathBuf> {
    venv_tool(
        None,
        "venv-mlflow/bin/python",
        "no MLflow/onnxruntime Python (venv-mlflow)",
    )
}

/// A program in one of the project's tool venvs (or at the path in `override_var`); skips
/// loudly, saying `missing`, when it is not there.
fn venv_tool(override_var: Option<&str>, relative: &str, missing: &str) -> Option<PathBuf> {
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

/// schemathesis's `st` command, from the project's tool venv (or `ST_BIN`); skips loudly
/// when it is missing outside CI.
pub fn schemathesis() -> Option<PathBuf> {
    venv_tool(
        Some("ST_BIN"),
        "venv-schemathesis/bin/st",
        "no schemathesis (venv-schemathesis)",
    )
}
