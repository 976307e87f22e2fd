//! What every stage is told about its artifacts and runs, as plain values (the command line
//! that sets them is `service_flags::{DvcArgs, RemoteArgs, TrackingArgs}`, at the edge).

use std::path::PathBuf;

use tracking::{Tracker, TrackingError};

/// Whether and where an output is recorded for DVC.
#[derive(Debug, Clone, Default)]
pub struct DvcSettings {
    /// Do not write `<out>.dvc` or fill the DVC cache.
    pub no_dvc: bool,
    /// DVC repository root (`None`: the nearest one above the output, else its parent).
    pub dvc_root: Option<PathBuf>,
    pub remote: RemoteSettings,
}

/// Where artifacts are exchanged.
#[derive(Debug, Clone, Default)]
pub struct RemoteSettings {
    /// The DVC remote, e.g. `s3://seizure-ops/dvcstore`; `None`: local files only.
    pub remote_url: Option<String>,
    /// The S3 endpoint of MinIO or another S3-compatible server; `None`: AWS.
    pub s3_endpoint: Option<String>,
}

/// Where runs are recorded.
#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// The MLflow tracking server; `None`: the local tracking store.
    pub tracking_uri: Option<String>,
    /// The local tracking store's directory (used without an MLflow URI).
    pub tracking_dir: PathBuf,
    pub experiment: String,
}

impl TrackingSettings {
    /// The local store's directory unless configured.
    pub const DEFAULT_DIR: &'static str = "tracking";
    /// The experiment runs go to unless configured.
    pub const DEFAULT_EXPERIMENT: &'static str = "seizure-detection";

    pub fn open(&self) -> Result<Box<dyn Tracker>, TrackingError> {
        tracking::from_config(self.tracking_uri.as_deref(), &self.tracking_dir)
    }
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            tracking_uri: None,
            tracking_dir: PathBuf::from(Self::DEFAULT_DIR),
            experiment: Self::DEFAULT_EXPERIMENT.to_owned(),
        }
    }
}
