//! The inference service: seizure predictions per patient (from the patient store that
//! patient-pull writes) or per batch of raw recordings, with the production model behind an
//! atomic pointer (`POST /reload-model` swaps it without downtime), an SQL audit log of every
//! prediction, Prometheus metrics and an OpenAPI document.

pub mod api;
pub mod audit;
pub mod metrics;
pub mod model;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use arc_swap::ArcSwapOption;
use artifact_store::s3::RemoteArgs;
use auth_tokens::{Jwks, KeySource, Verifier, VerifierConfig};
use clap::{Args, Parser};

pub use api::{AppState, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "inference",
    version,
    about = "The seizure-ops inference service"
)]
pub struct Cli {
    #[command(flatten)]
    pub args: InferenceArgs,
    #[command(flatten)]
    pub log: telemetry::LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct InferenceArgs {
    /// Address to listen on.
    #[arg(long, env = "INFERENCE_LISTEN", default_value = "127.0.0.1:8002")]
    pub listen: SocketAddr,
    /// The production release directory that evaluate's promotion installs.
    #[arg(long, env = "PRODUCTION_DIR", default_value = "production")]
    pub production_dir: PathBuf,
    /// With a DVC remote: the `.dvc` pointer naming the production version to pull into
    /// `--production-dir` on start and on every reload (default: `<production-dir>.dvc`).
    #[arg(long, env = "PRODUCTION_POINTER")]
    pub production_pointer: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The patient store that patient-pull writes.
    #[arg(long, env = "PATIENT_STORE", default_value = "patients/store")]
    pub patient_store: PathBuf,
    /// The prediction audit log: a SQLite file path, or a `postgres://` URL.
    #[arg(long, env = "DATABASE_URL", default_value = "predictions.db")]
    pub database_url: String,
    /// The auth service's key set, e.g. http://auth:8001/.well-known/jwks.json.
    #[arg(long, env = "AUTH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Or a file with the public key(s): a JWKS document or a PEM public key.
    #[arg(long, env = "AUTH_PUBLIC_KEY_FILE", conflicts_with = "jwks_url")]
    pub public_key_file: Option<PathBuf>,
    #[arg(long, env = "JWT_ISSUER", default_value = auth_tokens::DEFAULT_ISSUER)]
    pub issuer: String,
    #[arg(long, env = "JWT_AUDIENCE", default_value = auth_tokens::DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Recordings and patients are predicted epileptic at or above this probability.
    #[arg(long, env = "PREDICTION_THRESHOLD", default_value_t = 0.5)]
    pub threshold: f64,
    /// Requests running longer are answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 10)]
    pub request_timeout_seconds: u64,
    /// Largest request body accepted (bytes); 1,000 recordings of JSON numbers fit in 8 MiB.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

fn production_pointer(args: &InferenceArgs) -> PathBuf {
    args.production_pointer
        .clone()
        .unwrap_or_else(|| artifact_store::dvc::pointer_path(&args.production_dir))
}

fn key_source(args: &InferenceArgs) -> anyhow::Result<KeySource> {
    match (&args.jwks_url, &args.public_key_file) {
        (Some(url), _) => Ok(KeySource::Url(url.clone())),
        (None, Some(path)) => Ok(KeySource::Static(Jwks::from_file(path)?)),
        (None, None) => bail!(
            "no way to verify access tokens: set AUTH_JWKS_URL to the auth service's \
             /.well-known/jwks.json, or AUTH_PUBLIC_KEY_FILE to its public key"
        ),
    }
}

fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("inference@{host}")
}

/// Connects, loads what there is to load, and builds the shared state. A missing model or
/// patient store does not stop the service: it starts not ready and says why.
pub async fn build_state(args: &InferenceArgs) -> anyhow::Result<Arc<AppState>> {
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("PREDICTION_THRESHOLD must be between 0 and 1");
    }
    let verifier = Verifier::new(
        VerifierConfig {
            issuer: args.issuer.clone(),
            audience: args.audience.clone(),
            leeway_seconds: 30,
        },
        key_source(args)?,
    )
    .await?;
    let log = audit::PredictionLog::open(&args.database_url)
        .await
        .with_context(|| format!("cannot open the prediction log {}", args.database_url))?;
    let state = Arc::new(AppState {
        model: model::ModelSlot::default(),
        patients: ArcSwapOption::empty(),
        log,
        metrics: metrics::InferenceMetrics::new(),
        verifier,
        settings: Settings {
            release: model::ReleaseSource {
                dir: args.production_dir.clone(),
                remote: args
                    .remote
                    .open()?
                    .map(|remote| (remote, production_pointer(args))),
            },
            patient_store_dir: args.patient_store.clone(),
            threshold: args.threshold,
            instance: instance_name(),
            request_timeout: Duration::from_secs(args.request_timeout_seconds),
        },
        reload_lock: tokio::sync::Mutex::new(()),
    });
    match state.settings.release.fetch_and_load().await {
        Ok(model) => {
            tracing::info!(version = %model.version, "serving the production model");
            state.metrics.serving(None, &model.version);
            state.model.swap(model);
        }
        Err(e) => tracing::warn!("starting without a model (not ready): {e}"),
    }
    match patient_store::PatientStore::open(&args.patient_store) {
        Ok(store) => {
            tracing::info!(patients = store.len(), "patient store opened");
            state.patients.store(Some(Arc::new(store)));
        }
        Err(e) => tracing::warn!("no patient store yet (GET /predict/{{id}} answers 503): {e}"),
    }
    Ok(state)
}

/// Serves until `shutdown` resolves, drains in-flight requests, then flushes the audit log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    max_body_bytes: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app =
        api::router(state.clone()).layer(axum::extract::DefaultBodyLimit::max(max_body_bytes));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    state.log.flush().await?;
    Ok(())
}

/// The runtime inference is served on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // Scoring runs on the blocking pool; a pool the size of the machine keeps throughput and
    // keeps memory flat (every extra thread brings its own stack and allocator arena).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(2 * cores)
        .build()
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let state = build_state(&cli.args).await?;
        let listener = tokio::net::TcpListener::bind(cli.args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.args.listen))?;
        tracing::info!(address = %cli.args.listen, "inference service listening");
        serve(
            listener,
            state,
            cli.args.max_body_bytes,
            http_kit::shutdown_signal(),
        )
        .await
    })
}
