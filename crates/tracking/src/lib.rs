//! Experiment tracking and the model registry, behind one trait with two stores:
//!
//! * [`mlflow::MlflowTracker`]: a real MLflow 3 server over its REST API (runs, params, metric
//!   history, proxied artifacts, registered models, versions, aliases);
//! * [`local::LocalTracker`]: the same information in a human-readable directory, used when no
//!   `MLFLOW_TRACKING_URI` is configured.
//!
//! Promotion uses the alias [`PRODUCTION_ALIAS`]; MLflow stages are deprecated. A model is
//! logged as an MLflow model directory ([`mlmodel`]): on MLflow 3 it becomes a logged model that
//! the registry versions, so `mlflow.pyfunc.load_model("models:/<name>@production")` loads it.

pub mod local;
pub mod mlflow;
pub mod mlmodel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fs_err as fs;

/// The registry alias that marks the model in production.
pub const PRODUCTION_ALIAS: &str = "production";

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("MLflow {endpoint} answered {status} {error_code}: {message}")]
    Api {
        endpoint: String,
        status: u16,
        error_code: String,
        message: String,
    },
    #[error("MLflow {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    /// A file operation through `fs-err`, whose message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An atomic write: `artifact_store::atomic` errors do not name the file, so this does.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
}

pub type Result<T, E = TrackingError> = std::result::Result<T, E>;

/// One metric value at a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl Metric {
    /// A metric stamped with the current time.
    pub fn now(key: &str, value: f64, step: i64) -> Self {
        Self {
            key: key.to_owned(),
            value,
            step,
            timestamp_ms: now_ms(),
        }
    }
}

pub use clock::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Finished,
    Failed,
}

impl RunStatus {
    /// How a run whose work produced `result` ends: finished on success, failed otherwise.
    pub fn of<T, E>(result: &std::result::Result<T, E>) -> Self {
        if result.is_ok() {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
}

/// A run found by [`Tracker::search_runs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, `KILLED`.
    pub status: String,
    pub start_time_ms: i64,
    pub tags: BTreeMap<String, String>,
}

/// A tag value a search can name: letters, digits and `._:-` only (nothing a filter
/// language could read as syntax), 1 to 250 characters.
pub fn check_search_value(value: &str) -> Result<()> {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c));
    if plain && (1..=250).contains(&value.len()) {
        Ok(())
    } else {
        Err(TrackingError::Invalid(format!(
            "{value:?} cannot be searched for: use 1-250 letters, digits, '.', '_', ':' or '-'"
        )))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub name: String,
    /// "1", "2", ... as MLflow numbers them.
    pub version: String,
    pub run_id: String,
    /// Where the version's files are (`mlflow-artifacts:/...` or `runs:/<run>/<path>`).
    pub source: String,
}

/// Experiment tracking plus the model registry.
pub trait Tracker: Send + Sync {
    /// "mlflow" or "local", for logs.
    fn kind(&self) -> &'static str;
    /// Where it stores things (URL or directory), for logs.
    fn location(&self) -> String;

    /// Starts a run in `experiment` (created if needed).
    fn create_run(&self, experiment: &str, run_name: &str) -> Result<RunInfo>;
    /// Params are immutable: re-logging a key with another value is an error.
    fn log_params(&self, run_id: &str, params: &[(String, String)]) -> Result<()>;
    fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()>;
    fn set_tags(&self, run_id: &str, tags: &[(String, String)]) -> Result<()>;
    /// Uploads every file under `local_dir` to `artifact_path` in the run.
    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: &str) -> Result<()>;
    /// Logs `local_dir`, an MLflow model directory ([`mlmodel`]), as the run's model `name`:
    /// as the run's artifacts under `name`, and where the store has them (MLflow 3) as a logged
    /// model, created, uploaded, finalised and recorded as an output of the run, which
    /// [`Tracker::register_version`] then versions.
    fn log_model(&self, run_id: &str, local_dir: &Path, name: &str) -> Result<()>;
    fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<()>;

    fn run_params(&self, run_id: &str) -> Result<BTreeMap<String, String>>;
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>>;
    /// Artifact file paths of a run, relative to its root, sorted.
    fn list_artifacts(&self, run_id: &str) -> Result<Vec<String>>;
    fn run_status(&self, run_id: &str) -> Result<String>;
    /// The runs of `experiment` whose tag `key` is `value` ([`check_search_value`] for both),
    /// oldest first; none when the experiment does not exist.
    fn search_runs(&self, experiment: &str, key: &str, value: &str) -> Result<Vec<RunSummary>>;
    /// The bytes of one artifact file of a run (`path` relative to the run's artifact root).
    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>>;

    /// Registers the run's `artifact_path` as a new version of `model` (created if needed).
    fn register_version(
        &self,
        model: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> Result<ModelVersion>;
    fn model_version(&self, model: &str, version: &str) -> Result<ModelVersion>;
    /// Points `alias` at `version` (moving it if it pointed elsewhere).
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<()>;
    /// The version `alias` points at, or `None` if the alias (or the model) does not exist.
    fn alias(&self, model: &str, alias: &str) -> Result<Option<ModelVersion>>;
    /// Downloads a version's files into the existing directory `dest`.
    fn download_version(&self, version: &ModelVersion, dest: &Path) -> Result<()>;
}

/// Writes `bytes` to `relpath` under `dest`, creating directories as needed.
/// Writes `bytes` at `dest/relpath`; `relpath` comes from a server's listing, so it must stay
/// under `dest`.
pub(crate) fn write_under(dest: &Path, relpath: &str, bytes: &[u8]) -> Result<()> {
    let path = artifact_store::paths::contained_join(dest, relpath)
        .map_err(|e| TrackingError::Invalid(e.to_string()))?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    Ok(fs::write(&path, bytes)?)
}

/// Every regular file under `dir`, as (path relative to `dir` with `/`, full path), sorted.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    artifact_store::dvc::list_files(dir).map_err(|e| TrackingError::Invalid(e.to_string()))
}

/// Picks the store from configuration: MLflow when a tracking URI is given, else local.
pub fn from_config(tracking_uri: Option<&str>, local_dir: &Path) -> Result<Box<dyn Tracker>> {
    match tracking_uri.filter(|u| !u.trim().is_empty()) {
        Some(uri) => Ok(Box::new(mlflow::MlflowTracker::new(uri)?)),
        None => Ok(Box::new(local::LocalTracker::open(local_dir)?)),
    }
}
