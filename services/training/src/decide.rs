//! What the trained network decides with, chosen after training: the temperature that
//! calibrates its probabilities, the decision threshold (on the validation split), and the
//! out-of-fold window, patient and alarm decisions.

use std::sync::Arc;

use eeg_data::offsets::Windows as OffsetWindows;
use eeg_data::processed::{ProcessedDataset, Split, SplitArrays};
use seizure_model::{ModelCard, Predictor};

use crate::oof;
use crate::settings::{OofFolds, TrainingSettings};
use crate::train::{TrainConfig, TrainOutcome};

/// The out-of-fold decisions and the models that scored them.
#[derive(Default)]
pub(crate) struct OutOfFoldDecisions {
    pub decisions: Option<seizure_model::Decisions>,
    pub models: Vec<Arc<Predictor>>,
}

/// The out-of-fold decisions ([`oof`]): none (with a warning) for a dataset without the
/// continuous signals of its training and validation segments (an older preprocessing).
pub(crate) fn out_of_fold(
    folds: OofFolds,
    args: &TrainingSettings,
    dataset: &ProcessedDataset,
    train_split: &SplitArrays,
    validation: &SplitArrays,
    config: &TrainConfig,
    card: &ModelCard,
) -> anyhow::Result<OutOfFoldDecisions> {
    let (Ok(train_signals), Ok(validation_signals)) = (
        dataset.signals(Split::Train),
        dataset.signals(Split::Validation),
    ) else {
        tracing::warn!("no out-of-fold decisions: the dataset keeps no continuous signals");
        return Ok(OutOfFoldDecisions::default());
    };
    if train_signals.is_empty() || validation_signals.is_empty() {
        tracing::warn!("no out-of-fold decisions: the dataset keeps no continuous signals");
        return Ok(OutOfFoldDecisions::default());
    }
    let manifest = &dataset.manifest;
    let pool = oof::Pool {
        train: train_split,
        validation,
        signals: oof::pool_signals(&train_signals, &validation_signals)?,
        segments: manifest.segments.len(),
        normalisation: manifest.normalisation,
        windows: args.windows,
        augmentation: args.augmentation,
        undersample: manifest.balance == eeg_data::processed::Balance::Undersample,
        max_rows: args.max_train_rows.map(std::num::NonZeroUsize::get),
    };
    let decisions = &args.decisions;
    let settings = oof::OofSettings {
        folds: folds.into_inner(),
        window_specificity: decisions.window_specificity.into_inner(),
        patient_specificity: decisions.patient_specificity.into_inner(),
        alarm: bedside::tuning::Targets {
            budget_per_hour: decisions.alarm_budget_per_hour.into_inner(),
            ..Default::default()
        },
        hop: bedside::monitor::DEFAULT_HOP,
    };
    let mut card = card.clone();
    card.decisions = None;
    match oof::score(&pool, config, &card, &settings) {
        Ok(scored) => Ok(OutOfFoldDecisions {
            decisions: oof::decide(&scored, &settings),
            models: scored.models,
        }),
        // Too few segments to deal into folds (a tiny data set): the validation threshold
        // decides, as it did before.
        Err(e) => {
            tracing::warn!("no out-of-fold decisions: {e:#}");
            Ok(OutOfFoldDecisions::default())
        }
    }
}

fn validation_inputs(validation: &SplitArrays) -> &[f32] {
    validation
        .x
        .as_slice()
        .expect("arrays read from .npy are contiguous")
}

/// Temperature scaling ([`seizure_model::temperature`]) on the best network's validation logits.
pub(crate) fn fit_temperature(
    card: &ModelCard,
    outcome: &TrainOutcome,
    validation: &SplitArrays,
) -> Option<seizure_model::temperature::TemperatureScaling> {
    let logits = seizure_model::Predictor::from_network(card.clone(), &outcome.network)
        .logit_differences_normalised(validation_inputs(validation), validation.rows());
    let labels: Vec<bool> = validation.y.iter().map(|&y| y == 1).collect();
    seizure_model::temperature::fit(&logits, &labels)
}

/// The threshold rule ([`seizure_model::threshold`]) on the best network's validation scores:
/// of the validation segments cut at every quarter chunk (`windows`, the chunks themselves
/// included: four times the windows, at the offsets a bedside stream presents) when the
/// dataset keeps their signals, else of the validation chunks.
pub(crate) fn choose_threshold(
    card: &ModelCard,
    outcome: &TrainOutcome,
    validation: &SplitArrays,
    windows: Option<&OffsetWindows>,
    target_specificity: f64,
) -> Option<seizure_model::DecisionThreshold> {
    let predictor = seizure_model::Predictor::from_network(card.clone(), &outcome.network);
    let (scores, labels) = match windows {
        Some(windows) => (predictor.predict(&windows.samples), windows.labels.clone()),
        None => (
            predictor.predict_normalised(validation_inputs(validation), validation.rows()),
            validation.y.iter().map(|&y| y == 1).collect(),
        ),
    };
    let scores: Vec<f64> = scores.into_iter().map(f64::from).collect();
    seizure_model::threshold::choose(&scores, &labels, target_specificity)
}
