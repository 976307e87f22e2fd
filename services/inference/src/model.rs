//! The served model: resolved from the production release, validated, and swapped in
//! atomically so in-flight requests finish on the model they started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use seizure_model::{ModelCard, Predictor};
use stage_kit::Remote;

/// A model ready to serve, with where it came from.
pub struct LoadedModel {
    /// Shared with the monitoring sessions started on this model (they stay on it).
    pub predictor: Arc<Predictor>,
    /// The registered version (from `release.json`), or `unregistered-<weights md5>`.
    pub version: String,
    pub run_id: Option<String>,
    pub source: PathBuf,
    /// RFC 3339, UTC.
    pub loaded_at: String,
}

impl LoadedModel {
    pub fn card(&self) -> &ModelCard {
        self.predictor.card()
    }
}

/// Why a model could not be (re)loaded. The service keeps serving the model it has.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source has no usable model (missing or unreadable files).
    #[error("cannot read the production model: {0}")]
    Unavailable(String),
    /// The model is there but must not serve.
    #[error("the production model failed validation: {0}")]
    Invalid(String),
}

/// Where the production release comes from besides `dir` itself: a DVC remote and the
/// `.dvc` pointer naming the version to pull.
pub struct ReleaseSource {
    pub dir: PathBuf,
    pub remote: Option<(Remote, PathBuf)>,
}

impl ReleaseSource {
    /// What names the production release now, cheap enough to read every few seconds: the
    /// pointer file's bytes with a remote, else the DVC hash of `dir` itself (every file,
    /// weights included). `None` when there is nothing to read (yet). Blocking: file reads.
    pub fn fingerprint(&self) -> Option<Vec<u8>> {
        match &self.remote {
            Some((_, pointer)) => std::fs::read(pointer).ok(),
            None if !self
                .dir
                .join(seizure_model::artifact::MODEL_CARD_FILE)
                .is_file() =>
            {
                None
            }
            None => artifact_store::dvc::hash_dir(&self.dir)
                .ok()
                .map(|hash| hash.md5.into_bytes()),
        }
    }

    /// Pulls the release the pointer names (when there is a remote), then loads it.
    pub async fn fetch_and_load(&self) -> Result<LoadedModel, LoadError> {
        if let Some((remote, pointer)) = &self.remote {
            remote.sync_pointer(pointer, &self.dir).await.map_err(|e| {
                if e.is_integrity() {
                    LoadError::Invalid(e.to_string())
                } else {
                    LoadError::Unavailable(e.to_string())
                }
            })?;
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || load_release(&dir))
            .await
            .map_err(|e| LoadError::Unavailable(e.to_string()))?
    }
}

/// Loads and validates the production release in `dir`: the artifact's schema and weights
/// integrity (checked by the loader), the input schema the patient store feeds, and a smoke
/// prediction on the reference inputs.
pub fn load_release(dir: &Path) -> Result<LoadedModel, LoadError> {
    if !dir.join(seizure_model::artifact::MODEL_CARD_FILE).is_file() {
        return Err(LoadError::Unavailable(format!(
            "{} holds no model (run the pipeline, or point PRODUCTION_DIR at a release)",
            dir.display()
        )));
    }
    let release =
        seizure_model::installed_release(dir).map_err(|e| LoadError::Unavailable(e.to_string()))?;
    let predictor = Predictor::load(dir).map_err(|e| LoadError::Invalid(e.to_string()))?;
    validate(&predictor)?;
    let card = predictor.card();
    let version = match &release {
        Some(release) => release.version.clone(),
        None => format!(
            "unregistered-{}",
            &card.weights_md5[..12.min(card.weights_md5.len())]
        ),
    };
    let run_id = release.map(|r| r.run_id).or_else(|| card.run_id.clone());
    Ok(LoadedModel {
        predictor: Arc::new(predictor),
        version,
        run_id,
        source: dir.to_owned(),
        loaded_at: seizure_model::artifact::now_rfc3339(),
    })
}

fn validate(predictor: &Predictor) -> Result<(), LoadError> {
    let input = predictor.card().input;
    if input.samples_per_recording != eeg_data::SAMPLES_PER_RECORDING {
        return Err(LoadError::Invalid(format!(
            "the model reads recordings of {} samples; the service serves {}",
            input.samples_per_recording,
            eeg_data::SAMPLES_PER_RECORDING
        )));
    }
    predictor.smoke_test().map_err(LoadError::Invalid)
}

/// The model being served, if any. Readers take a snapshot (`current`) and keep it for the
/// whole request; a reload swaps the pointer without waiting for them.
#[derive(Default)]
pub struct ModelSlot(ArcSwapOption<LoadedModel>);

impl ModelSlot {
    pub fn current(&self) -> Option<Arc<LoadedModel>> {
        self.0.load_full()
    }

    /// Installs `model`; returns the one it replaced.
    pub fn swap(&self, model: LoadedModel) -> Option<Arc<LoadedModel>> {
        self.0.swap(Some(Arc::new(model)))
    }
}

/// The production release this replica last settled on, by its fingerprint: loaded (and
/// serving it) or refused as invalid (and serving an older one, or none).
#[derive(Default)]
pub struct Settled(std::sync::Mutex<Option<(Vec<u8>, bool)>>);

impl Settled {
    /// Records the outcome for `fingerprint`; `None` forgets (the watch looks again).
    pub fn record(&self, fingerprint: Option<Vec<u8>>, serving: bool) {
        *self.0.lock().expect("not poisoned") = fingerprint.map(|f| (f, serving));
    }

    /// Whether this replica serves the release `now` names: `None` when it has not settled on
    /// that release yet (a reload is due).
    pub fn serving(&self, now: &[u8]) -> Option<bool> {
        match &*self.0.lock().expect("not poisoned") {
            Some((seen, serving)) if seen == now => Some(*serving),
            _ => None,
        }
    }
}
