//! What the model card records of the run itself: where the model comes from (the data's
//! hash, the commit) and the best epoch's metrics.

use std::process::Command;

use eeg_data::processed::Manifest;
use seizure_model::ModelCard;

use crate::train::{TrainConfig, TrainOutcome};

/// The card of a model trained with `config` on the dataset of `manifest` (hash `data_md5`)
/// at the commit being built.
pub(crate) fn new(config: &TrainConfig, manifest: &Manifest, data_md5: &str) -> ModelCard {
    let mut card = ModelCard::new(config.model, manifest.normalisation);
    card.training_data_md5 = Some(data_md5.to_owned());
    card.git_commit = git_commit();
    card
}

/// The best epoch's losses and accuracies, and how many epochs ran.
pub(crate) fn fill_metrics(card: &mut ModelCard, outcome: &TrainOutcome) {
    let best = &outcome.history[outcome.best_epoch - 1];
    for (key, value) in [
        ("val_loss", best.val_loss),
        ("val_accuracy", best.val_accuracy),
        ("train_loss", best.train_loss),
        ("train_accuracy", best.train_accuracy),
        ("best_epoch", best.epoch as f64),
        ("epochs_trained", outcome.history.len() as f64),
    ] {
        card.metrics.insert(key.into(), value);
    }
}

/// The commit being built: `GIT_COMMIT` if set (containers), else `git rev-parse HEAD`.
fn git_commit() -> Option<String> {
    if let Ok(commit) = std::env::var("GIT_COMMIT") {
        return Some(commit).filter(|c| !c.is_empty());
    }
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
