//! The model artifact: the drift profile it carries, and the directory under `--out`
//! (replaced atomically) holding the weights, the card and the MLflow model files.

use std::path::Path;

use anyhow::Context;
use artifact_store::atomic;
use seizure_model::{artifact, ModelCard, Predictor, SeizureNet};

use crate::inputs::Inputs;
use crate::{logged_model, profile};

/// The drift profile of the training signals under the trained model, when the dataset keeps
/// them (see [`profile::build`]), knowing the dataset's own recordings.
pub(crate) fn drift_profile(
    inputs: &Inputs,
    card: &ModelCard,
    network: &SeizureNet,
    config: &drift::BuildConfig,
) -> Option<drift::Profile> {
    inputs.training_signals.as_ref().and_then(|signals| {
        let predictor = Predictor::from_network(card.clone(), network);
        let mut profile = profile::build(&predictor, signals, config)?;
        // Every recording of the data set is public: posted back, it is not new input.
        let published = eeg_data::fingerprint::of_dataset(&inputs.dataset);
        for e in &published.unreadable {
            tracing::warn!(
                "the drift profile does not recognise this split's recordings when they \
                 come back as input: {e}"
            );
        }
        profile.published_recordings = published.fingerprints;
        Some(profile)
    })
}

/// Replaces the directory `out` with the model (`network`, `card`, the drift `profile`);
/// returns the card as saved (with the weights' hash).
pub(crate) fn write_artifact(
    out: &Path,
    card: &ModelCard,
    network: &SeizureNet,
    profile: Option<&drift::Profile>,
) -> anyhow::Result<ModelCard> {
    atomic::replace_dir(out, |dir| -> anyhow::Result<ModelCard> {
        let mut card = card.clone();
        if let Some(profile) = profile {
            card.drift_profile = Some(artifact::save_profile(dir, profile)?);
        }
        let saved = artifact::save(dir, network, &card)?;
        logged_model::write(dir, &saved, network)?;
        Ok(saved)
    })
    .with_context(|| format!("cannot write {}", out.display()))
}
