//! Bringing the served model up to the production release: on `POST /reload-model` (one
//! replica, now) and by each replica's own watch of the production pointer (every replica,
//! within `MODEL_WATCH_SECONDS`), through the same path: fetch, validate, swap atomically.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::LoadError;
use crate::state::AppState;

/// What a reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub old_version: Option<String>,
    pub new_version: String,
    pub loaded_at: String,
}

/// What names the production release now (file reads, off the async workers).
async fn fingerprint(state: &Arc<AppState>) -> Option<Vec<u8>> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.release.fingerprint())
        .await
        .ok()
        .flatten()
}

/// Fetches and validates the production release and swaps it in; on failure the model being
/// served (if any) keeps serving. `by` names who asked, for the log. One reload at a time.
#[tracing::instrument(skip_all)]
pub async fn reload(state: &Arc<AppState>, by: &str) -> Result<Reloaded, LoadError> {
    let _one_at_a_time = state.reload_lock.lock().await;
    let before = fingerprint(state).await;
    let result = state.release.fetch_and_load().await;
    // What was loaded is known only if the release did not move during the fetch; if it did,
    // nothing is recorded and the watch looks again on its next tick.
    let loaded = if fingerprint(state).await == before {
        before
    } else {
        None
    };
    let model = match result {
        Ok(model) => model,
        Err(e) => {
            state.metrics.reloads.with_label_values(&["failure"]).inc();
            state.metrics.behind_pointer.set(1);
            if matches!(e, LoadError::Invalid(_)) {
                // Not retried by the watch until the pointer names another release.
                state.settled.record(loaded, false);
            }
            let serving = state.model.current().map(|m| m.version.clone());
            tracing::warn!(%by, serving = ?serving, "model reload refused: {e}");
            return Err(e);
        }
    };
    // A new release may come with a rebuilt patient store: reopen it on the next request.
    state.patients.store(None);
    let reloaded = Reloaded {
        old_version: state.model.current().map(|m| m.version.clone()),
        new_version: model.version.clone(),
        loaded_at: model.loaded_at.clone(),
    };
    state.model.swap(model);
    state.settled.record(loaded, true);
    state.metrics.behind_pointer.set(0);
    state
        .metrics
        .serving(reloaded.old_version.as_deref(), &reloaded.new_version);
    state.metrics.reloads.with_label_values(&["success"]).inc();
    tracing::info!(%by, old = ?reloaded.old_version, new = %reloaded.new_version, "model reloaded");
    Ok(reloaded)
}

/// The patient store's index (it names the data version the store was built from).
async fn store_index(dir: PathBuf) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(move || std::fs::read(dir.join(patient_store::INDEX_FILE)).ok())
        .await
        .ok()
        .flatten()
}

/// Every `every`: reloads when the production pointer names another release than the one
/// this replica loaded (or tried to load at start and could not read), and reopens the
/// patient store when patient-pull rebuilt it (it runs after the promotion that the watch may
/// already have followed). A release that failed validation is not retried until the
/// pointer moves; an unreadable one (an S3 outage) is retried on the next tick.
pub fn spawn_watcher(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let store_dir = state.settings.patient_store.clone();
        let mut store_seen = store_index(store_dir.clone()).await;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Some(now) = fingerprint(&state).await {
                match state.settled.serving(&now) {
                    Some(serving) => state.metrics.behind_pointer.set(i64::from(!serving)),
                    None => {
                        // Failures are logged and counted (model_reloads_total) by `reload`.
                        let _ = reload(&state, "watcher").await;
                    }
                }
            }
            let store_now = store_index(store_dir.clone()).await;
            if store_now != store_seen {
                tracing::info!("the patient store changed: reopening it on the next request");
                state.patients.store(None);
                store_seen = store_now;
            }
        }
    })
}
