//! Helpers for tests that use real third-party tools or the real data set.
//!
//! Such a test may skip only when run by hand without the tool, and says so loudly; under CI
//! (`CI` set) a missing tool fails the test instead. `./scripts/test.sh` installs every tool.
//!
//! Everything is at the crate's root; by idea: the skip policy (`skip.rs`), where things are
//! (`paths.rs`), tools and servers (`tools.rs`), processes (`process.rs`), PostgreSQL
//! (`postgres.rs`, with the `postgres` feature), Chromium (`chromium.rs`), the Python clients
//! (`python.rs`), and a JSON-over-HTTP client ([`http`]).

mod chromium;
pub mod http;
mod paths;
#[cfg(feature = "postgres")]
mod postgres;
mod process;
mod python;
mod skip;
mod tools;

pub use chromium::{chromium, playwright_core, render_page};
pub use paths::{real_data_csv, require_real_data, tools_dir, workspace_root};
#[cfg(feature = "postgres")]
pub use postgres::{fresh_postgres_database, postgres_server, OwnPostgres};
pub use process::{free_port, resident_kib, run_binary, run_ok};
pub use python::{
    json_through_python, mlflow_python, scoring_python, tritonclient_python, websockets_python,
};
pub use skip::{in_ci, skip};
pub use tools::{assert_dvc_status_clean, dvc, mlflow_uri, s3_server, schemathesis, unique_prefix};
