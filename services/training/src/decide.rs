//! What the trained network decides with, chosen after training: the temperature that
//! calibrates its probabilities, the decision threshold (on the validation split), and the
//! out-of-fold window, patient and alarm decisions.

use eeg_data::offsets::Windows as OffsetWindows;
use eeg_data::processed::{ProcessedDataset, Split, SplitArrays};
use seizure_model::ModelCard;

use crate::config::TrainingArgs;
use crate::oof;
use crate::train::{TrainConfig, TrainOutcome};
use crate::windows::Augmentation;

/// The out-of-fold decisions ([`oof`]): None (with a warning) for a dataset without the
/// continuous signals of its training and validation segments (an older preprocessing).
pub(crate) fn out_of_fold(
    args: &TrainingArgs,
    dataset: &ProcessedDataset,
    train_split: &SplitArrays,
    validation: &SplitArrays,
    config: &TrainConfig,
    card: &ModelCard,
) -> anyhow::Result<Option<seizure_model::Decisions>> {
    let (Ok(train_signals), Ok(validation_signals)) = (
        dataset.signals(Split::Train),
        dataset.signals(Split::Validation),
    ) else {
        tracing::warn!("no out-of-fold decisions: the dataset keeps no continuous signals");
        return Ok(None);
    };
    if train_signals.is_empty() || validation_signals.is_empty() {
        tracing::warn!("no out-of-fold decisions: the dataset keeps no continuous signals");
        return Ok(None);
    }
    let manifest = &dataset.manifest;
    let pool = oof::Pool {
        train: train_split,
        validation,
        signals: oof::pool_signals(&train_signals, &validation_signals)?,
        segments: manifest.segments.len(),
        normalisation: manifest.normalisation,
        windows: args.windows,
        augmentation: Augmentation {
            gain: args.augment_gain,
            noise: args.augment_noise,
        },
        undersample: manifest.balance == eeg_data::processed::Balance::Undersample,
        max_rows: args.max_train_rows,
    };
    let settings = oof::OofSettings {
        folds: args.oof_folds,
        window_specificity: args.threshold_specificity,
        patient_specificity: args.patient_specificity,
        alarm: bedside::tuning::Targets {
            budget_per_hour: args.alarm_budget_per_hour,
            ..Default::default()
        },
        hop: bedside::monitor::DEFAULT_HOP,
    };
    let mut card = card.clone();
    card.decisions = None;
    match oof::score(&pool, config, &card, &settings) {
        Ok(scored) => Ok(oof::decide(&scored, &settings)),
        // Too few segments to deal into folds (a tiny data set): the validation threshold
        // decides, as it did before.
        Err(e) => {
            tracing::warn!("no out-of-fold decisions: {e:#}");
            Ok(None)
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
