//! The pipeline: each stage is the service's own `run`, on paths inside the home directory.
//! Embedded defaults: a local tracking store and local DVC tracking in the home. With
//! `MLFLOW_TRACKING_URI` set, runs and the registry go to that MLflow server; with
//! `DVC_REMOTE_URL` (and `AWS_ENDPOINT_URL`) set, every stage pushes its output to that remote,
//! as the compose fleet does. It says which it uses.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use service_flags::{DvcArgs, RemoteArgs, TrackingArgs};

use crate::Home;

/// Where the real data set is looked for when `--raw-csv` is not given (inside the home).
pub const DEFAULT_RAW_CSV: &str = "raw/epileptic_seizure_recognition.csv";
/// Where the synthetic stand-in is written when the real data set is absent.
pub const SYNTHETIC_CSV: &str = "raw/synthetic_eeg.csv";

#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// The UCI CSV. Unset: `<home>/raw/epileptic_seizure_recognition.csv` if present, else
    /// the synthetic data set. A path given here must exist.
    #[arg(long, env = "RAW_CSV")]
    pub raw_csv: Option<PathBuf>,
    /// Maximum training epochs (early stopping usually ends sooner). Unset: the training
    /// service's own default.
    #[arg(long, env = "EPOCHS")]
    pub epochs: Option<usize>,
    /// Train on at most this many rows (a quick smoke run); all by default.
    #[arg(long, env = "MAX_TRAIN_ROWS")]
    pub max_train_rows: Option<usize>,
    /// Size of the synthetic data set, when it is used. Unset: the preprocessing service's
    /// own default (the real file's 100 per class).
    #[arg(long)]
    pub synthetic_segments_per_class: Option<usize>,
}

impl PipelineArgs {
    /// The training stage's arguments: the training service's own defaults (and environment),
    /// with this pipeline's paths inside `home` and its overrides. No default is copied here.
    pub(crate) fn training(
        &self,
        home: &Home,
        data: PathBuf,
        out: PathBuf,
    ) -> anyhow::Result<training::TrainingArgs> {
        let defaults: training::TrainingArgs = service_flags::from_env()?;
        Ok(training::TrainingArgs {
            data,
            out,
            epochs: self.epochs.unwrap_or(defaults.epochs),
            max_train_rows: self.max_train_rows.or(defaults.max_train_rows),
            tracking: tracking(home)?,
            dvc: dvc()?,
            ..defaults
        })
    }
}

const STAGES: usize = 4;

/// Runs every stage in order; the first failure stops the pipeline and names its stage.
pub fn run_pipeline(
    home: &Home,
    args: &PipelineArgs,
    log: &service_flags::LogArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    announce_backends(home)?;
    let csv = raw_csv(home, args)?;
    stage(1, "preprocessing", || {
        preprocessing::run(preprocessing::Cli {
            command: preprocessing::Command::Run(preprocessing::PreprocessArgs {
                input: csv,
                out: home.path("data"),
                dvc: dvc()?,
                ..service_flags::from_env()?
            }),
            log: log.clone(),
        })
    })?;
    stage(2, "training", || {
        training::run(training::Cli {
            args: args.training(home, home.path("data"), home.path("models"))?,
            log: log.clone(),
        })
    })?;
    stage(3, "evaluate/promote", || {
        evaluate::run(evaluate::Cli {
            command: evaluate::Command::Run(evaluate_args(home)?),
            log: log.clone(),
        })
    })?;
    stage(4, "patient-pull", || {
        patient_pull::run(patient_pull::Cli {
            args: patient_pull::PatientPullArgs {
                data: home.path("data"),
                out: home.path("patients"),
                // Rebuilt only for a production model trained on this data (held-out
                // patients it has never seen); otherwise left as it is, with the reason.
                production: Some(home.path("production")),
                dvc: dvc()?,
            },
            log: log.clone(),
        })
    })?;
    println!(
        "pipeline finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn stage(
    number: usize,
    name: &str,
    body: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    println!("\n==> [{number}/{STAGES}] {name}");
    let _stage = tracing::info_span!("stage", number, name).entered();
    let started = Instant::now();
    body().with_context(|| format!("pipeline stopped at stage {number}/{STAGES} ({name})"))?;
    println!(
        "    {name} done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The real data set if it is there; otherwise the synthetic one, announced loudly.
pub(crate) fn raw_csv(home: &Home, args: &PipelineArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.raw_csv {
        if !path.is_file() {
            bail!(
                "RAW_CSV / --raw-csv names {}, which is not a file",
                path.display()
            );
        }
        return Ok(path.clone());
    }
    let default = home.path(DEFAULT_RAW_CSV);
    if default.is_file() {
        return Ok(default);
    }
    let synthetic = home.path(SYNTHETIC_CSV);
    announce_synthetic(&default, &synthetic);
    let defaults: preprocessing::SynthArgs = service_flags::from_env()?;
    preprocessing::write_synthetic(&preprocessing::SynthArgs {
        out: synthetic.clone(),
        segments_per_class: args
            .synthetic_segments_per_class
            .unwrap_or(defaults.segments_per_class),
        ..defaults
    })?;
    Ok(synthetic)
}

fn announce_synthetic(missing: &Path, synthetic: &Path) {
    let banner = "*".repeat(78);
    eprintln!(
        "{banner}\n\
         *** NO REAL EEG DATA at {}\n\
         *** Using the deterministic SYNTHETIC data set instead ({}).\n\
         *** The model and its predictions mean nothing clinically.\n\
         *** For the real data: put the UCI \"Epileptic Seizure Recognition\" CSV there,\n\
         *** pass --raw-csv / RAW_CSV, or `dvc pull` it (see the README).\n\
         {banner}",
        missing.display(),
        synthetic.display()
    );
}

/// The MLflow server of `MLFLOW_TRACKING_URI` when it is set, else the local tracking store
/// inside `home`; the experiment name is the tracking flags' own default (or
/// MLFLOW_EXPERIMENT_NAME).
pub(crate) fn tracking(home: &Home) -> anyhow::Result<TrackingArgs> {
    Ok(TrackingArgs {
        tracking_dir: home.path("tracking"),
        ..service_flags::from_env()?
    })
}

/// DVC tracking in the home's repository, pushing to the DVC remote of `DVC_REMOTE_URL`
/// (at `AWS_ENDPOINT_URL`) when it is set.
pub(crate) fn dvc() -> anyhow::Result<DvcArgs> {
    let remote: RemoteArgs = service_flags::from_env()?;
    Ok(DvcArgs {
        remote,
        ..DvcArgs::default()
    })
}

/// Says where runs and artifacts go, and how to change it; a configured remote that cannot be
/// opened (no credentials, a build without S3) stops here, before any stage ran.
fn announce_backends(home: &Home) -> anyhow::Result<()> {
    announce_tracking(home)?;
    let remote = dvc()?.remote;
    match &remote.remote_url {
        Some(url) => {
            remote
                .settings()
                .open()
                .with_context(|| format!("cannot use the DVC remote {url} (DVC_REMOTE_URL)"))?;
            let at = remote.s3_endpoint.as_deref().map(|e| format!(" at {e}"));
            println!(
                "artifacts: pushed to the DVC remote {url}{} (DVC_REMOTE_URL)",
                at.unwrap_or_default()
            )
        }
        None => println!(
            "artifacts: the local DVC cache in {} (set DVC_REMOTE_URL to push them to a remote)",
            home.path(".dvc").display()
        ),
    }
    Ok(())
}

/// Says where runs go: the MLflow server of MLFLOW_TRACKING_URI, or the local store.
pub(crate) fn announce_tracking(home: &Home) -> anyhow::Result<()> {
    let tracking = tracking(home)?;
    match &tracking.tracking_uri {
        Some(uri) => println!(
            "tracking: the MLflow server at {uri}, experiment {:?} (MLFLOW_TRACKING_URI)",
            tracking.experiment
        ),
        None => println!(
            "tracking: the local store {} (set MLFLOW_TRACKING_URI for an MLflow server)",
            tracking.tracking_dir.display()
        ),
    }
    Ok(())
}

fn evaluate_args(home: &Home) -> anyhow::Result<evaluate::EvaluateArgs> {
    let defaults: evaluate::EvaluateArgs = service_flags::from_env()?;
    Ok(evaluate::EvaluateArgs {
        candidate: home.path("models"),
        data: home.path("data"),
        reports: home.path("reports"),
        registry: evaluate::RegistryArgs {
            production: home.path("production"),
            audit_log: home.path("audit/promotions.jsonl"),
            tracking: tracking(home)?,
            dvc: dvc()?,
            ..defaults.registry
        },
        ..defaults
    })
}
