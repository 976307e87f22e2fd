//! The flags every pipeline stage shares: where outputs are recorded for DVC, the remote
//! artifacts move through, and where runs are tracked (the `stages` feature).

use std::path::PathBuf;

use stage_kit::{DvcSettings, RemoteSettings, TrackingSettings};

/// Whether and where an output is recorded for DVC, as every stage's command line takes it.
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

impl DvcArgs {
    pub fn settings(&self) -> DvcSettings {
        DvcSettings {
            no_dvc: self.no_dvc,
            dvc_root: self.dvc_root.clone(),
            remote: self.remote.settings(),
        }
    }
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

impl RemoteArgs {
    pub fn settings(&self) -> RemoteSettings {
        RemoteSettings {
            remote_url: self.remote_url.clone(),
            s3_endpoint: self.s3_endpoint.clone(),
        }
    }
}

/// Where runs are recorded, as every stage's command line takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct TrackingArgs {
    /// MLflow tracking server; unset means the local tracking store.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: Option<String>,
    /// The local tracking store's directory (used without an MLflow URI).
    #[arg(long, env = "TRACKING_DIR", default_value = TrackingSettings::DEFAULT_DIR)]
    pub tracking_dir: PathBuf,
    #[arg(long, env = "MLFLOW_EXPERIMENT_NAME", default_value = TrackingSettings::DEFAULT_EXPERIMENT)]
    pub experiment: String,
}

impl Default for TrackingArgs {
    fn default() -> Self {
        let TrackingSettings {
            tracking_uri,
            tracking_dir,
            experiment,
        } = TrackingSettings::default();
        Self {
            tracking_uri,
            tracking_dir,
            experiment,
        }
    }
}

impl TrackingArgs {
    pub fn settings(&self) -> TrackingSettings {
        TrackingSettings {
            tracking_uri: self.tracking_uri.clone(),
            tracking_dir: self.tracking_dir.clone(),
            experiment: self.experiment.clone(),
        }
    }

    /// The tracker these flags name (the local store or an MLflow server).
    pub fn open(&self) -> Result<Box<dyn tracking::Tracker>, tracking::TrackingError> {
        self.settings().open()
    }
}
