//! The flags every stage binary takes for its artifacts and runs (clap, kept at the
//! command-line edge: the libraries below take plain values).

use std::path::PathBuf;

use tracking::{Tracker, TrackingError};

/// Whether and where an output is recorded for DVC, as every binary's command line takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DvcArgs {
    /// Do not write `<out>.dvc` or fill the DVC cache.
    #[arg(long)]
    pub no_dvc: bool,
    /// DVC repository root (default: the nearest one above the output, else its parent).
    #[arg(long, env = "DVC_ROOT")]
    pub dvc_root: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where artifacts are exchanged, as every binary takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// The DVC remote artifacts are exchanged through, e.g. `s3://seizure-ops/dvcstore`.
    /// Unset: local files only.
    #[arg(long, env = "DVC_REMOTE_URL")]
    pub remote_url: Option<String>,
    /// The S3 endpoint, for MinIO or another S3-compatible server (path-style addressing).
    /// Unset: AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
}

/// Where runs are recorded, as every binary's command line takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct TrackingArgs {
    /// MLflow tracking server; unset means the local tracking store.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    /// The local tracking store's directory (used without an MLflow URI).
    #[arg(long, env = "TRACKING_DIR", default_value = "tracking")]
    pub tracking_dir: PathBuf,
    #[arg(
        long,
        env = "MLFLOW_EXPERIMENT_NAME",
        default_value = "seizure-detection"
    )]
    pub experiment: String,
}

impl TrackingArgs {
    pub fn open(&self) -> Result<Box<dyn Tracker>, TrackingError> {
        tracking::from_config(self.tracking_uri.as_deref(), &self.tracking_dir)
    }
}
