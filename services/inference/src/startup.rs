//! Startup and shutdown: the state built from the configuration (keys, audit log, the
//! production model, the patient store, background tasks), the server run until a signal,
//! then drained and the audit log flushed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwapOption;
use auth_tokens::{Jwks, KeySource, Verifier, VerifierConfig};

use crate::config::Cli;
use crate::footprint::Footprint;
use crate::service::{monitor, reload};
use crate::settings::{InferenceSettings, KeyLocation};
use crate::state::AppState;
use crate::{admission, audit, fleet_drift, footprint, metrics, model, quota, routes, sessions};

/// Polls the revocation list until the process ends. A failed poll keeps the last list
/// (tokens stay short-lived) and is logged.
fn spawn_revocation_poller(
    verifier: Arc<Verifier>,
    url: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match verifier.fetch_revocations(&url).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(%url, "revocation list reachable again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(%url, "cannot fetch the revocation list: {e}");
                }
                Err(_) => {}
            }
        }
    })
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
pub async fn build_state(settings: &InferenceSettings) -> anyhow::Result<Arc<AppState>> {
    footprint::check(Footprint::of(settings), settings.memory_limit_bytes)?;
    // The remote's URL is checked (and its client made) before anything is opened or fetched.
    let release = model::ReleaseSource {
        dir: settings.production_dir.clone(),
        remote: settings
            .remote
            .open()?
            .map(|remote| (remote, settings.production_pointer.clone())),
    };
    let keys = match &settings.keys {
        KeyLocation::Url(url) => KeySource::Url(url.clone()),
        KeyLocation::File(path) => KeySource::Static(Jwks::from_file(path)?),
    };
    let verifier =
        Arc::new(Verifier::new(VerifierConfig::for_audience(settings.tokens.clone()), keys).await?);
    if let Some(url) = &settings.revocations_url {
        spawn_revocation_poller(verifier.clone(), url.clone(), settings.revocation_poll);
    }
    let metrics = metrics::InferenceMetrics::new();
    let database = &settings.database;
    let log = audit::PredictionLog::open(
        database,
        audit::AuditOptions::new(settings.audit_spill_file.clone()),
        metrics.http.registry(),
    )
    .await
    .with_context(|| format!("cannot open the prediction log {}", database.redacted()))?;
    let state = Arc::new(AppState {
        model: model::ModelSlot::default(),
        patients: ArcSwapOption::empty(),
        log,
        metrics,
        verifier,
        settings: settings.clone(),
        release,
        instance: instance_name(),
        reload_lock: tokio::sync::Mutex::new(()),
        settled: model::Settled::default(),
        admission: Arc::new(admission::Admission::new(
            settings.admission.per_user,
            settings.admission.in_progress,
            // Half the cores for one user's work at a time: another's pushes keep the rest.
            std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
        )),
        sessions: sessions::Sessions::new(settings.monitor.clone()),
        signal_reads: quota::PerUser::new(
            f64::from(settings.signal_reads_per_minute) / 60.0,
            f64::from(settings.signal_reads_per_minute),
        ),
        verdicts: Default::default(),
        acknowledging: Default::default(),
        drift: fleet_drift::FleetDrift::new(
            settings.drift.max_age,
            settings.drift.max_user_share.into_inner(),
        ),
    });
    monitor::spawn_sweeper(state.clone());
    let fingerprint = state.release.fingerprint();
    // A hanging object store must not hold the start past the startup probe: start not ready
    // and let the pointer watch (or POST /reload-model) fetch it later.
    let limit = settings.model_startup_fetch;
    let first = tokio::time::timeout(limit, state.release.fetch_and_load())
        .await
        .unwrap_or_else(|_| {
            Err(model::LoadError::Unavailable(format!(
                "the production release was not fetched within {} s",
                limit.as_secs()
            )))
        });
    match first {
        Ok(model) => {
            tracing::info!(version = %model.version, "serving the production model");
            state.metrics.serving(None, &model.version);
            state.model.swap(model);
            state.settled.record(fingerprint, true);
        }
        Err(e) => {
            // Behind when there is a release it could not load (not when there is none yet).
            state
                .metrics
                .behind_pointer
                .set(i64::from(fingerprint.is_some()));
            if matches!(e, model::LoadError::Invalid(_)) {
                state.settled.record(fingerprint, false);
            }
            tracing::warn!("starting without a model (not ready): {e}");
        }
    }
    if let Some(every) = state.settings.model_watch {
        reload::spawn_watcher(state.clone(), every);
    }
    match patient_store::PatientStore::open(&settings.patient_store) {
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
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = routes::router(state.clone());
    http_kit::serve(listener, app, state.settings.server, shutdown).await?;
    // Monitoring sockets outlive their HTTP connection: end them (their last alarms audited)
    // before the audit log closes.
    state.sessions.shut_down(state.settings.server.drain).await;
    // Alarms past the quotas not yet summarised: one record a user, before the log closes.
    let due = state
        .sessions
        .take_alarm_summaries(std::time::Instant::now(), true);
    monitor::record_summaries(&state, due).await;
    state.log.close(state.settings.audit_shutdown_grace).await?;
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
    if cli.args.check_footprint {
        let footprint =
            footprint::check(Footprint::of_flags(&cli.args), cli.args.memory_limit_bytes)?;
        println!("memory at the caps: {footprint}");
        return Ok(());
    }
    let settings = cli.args.settings()?;
    runtime()?.block_on(async {
        let state = build_state(&settings).await?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        tracing::info!(address = %settings.listen, "inference service listening");
        serve(listener, state, http_kit::shutdown_signal()).await
    })
}
