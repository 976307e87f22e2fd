//! PostgreSQL: the shared test server, fresh databases on it, and servers of a test's own
//! that it can stop and restart (a real outage).

use std::process::Command;

use crate::{run_ok, skip, workspace_root};

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
