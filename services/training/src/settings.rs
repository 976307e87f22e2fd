//! A training run's settings: what the command line ([`crate::TrainingArgs`]) asks for, parsed
//! once at the edge into types that can only hold usable values (parse, don't validate). The
//! run itself ([`crate::train_model`]) takes these and does not check them again.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use eeg_data::processed::Manifest;
use nutype::nutype;
use seizure_model::{FrontEnd, ModelConfig};
use stage_kit::{DvcSettings, TrackingSettings};

use crate::engine::Engine;
use crate::shards::Sharding;
use crate::train::TrainConfig;
use crate::windows::{Augmentation, Windows};

/// A target specificity: a share in (0, 1].
#[nutype(
    validate(finite, greater = 0.0, less_or_equal = 1.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct Specificity(f64);

/// Adam's learning rate: a finite number > 0.
#[nutype(
    validate(finite, greater = 0.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct LearningRate(f64);

/// False alarms per hour the bedside rule may raise: a finite number >= 0.
#[nutype(
    validate(finite, greater_or_equal = 0.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct AlarmBudget(f64);

/// Dropout after each LSTM layer: in [0, 1).
#[nutype(
    validate(finite, greater_or_equal = 0.0, less = 1.0),
    derive(Debug, Clone, Copy, PartialEq, PartialOrd, Display)
)]
pub struct Dropout(f64);

/// Units of a layer: 1 to 1024.
#[nutype(
    validate(greater_or_equal = 1, less_or_equal = 1024),
    derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Display)
)]
pub struct Units(usize);

/// Folds of the out-of-fold evidence: 2 to 20.
#[nutype(
    validate(greater_or_equal = 2, less_or_equal = 20),
    derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Display)
)]
pub struct OofFolds(usize);

/// The network a run trains, without the input layout (the dataset's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    pub front_end: FrontEnd,
    pub lstm_hidden: Units,
    pub dense_hidden: Units,
    pub dropout: Dropout,
}

/// How the run's decisions are chosen after training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionSettings {
    /// The window threshold's target specificity (out of fold, else on validation).
    pub window_specificity: Specificity,
    /// None: the one threshold on the validation split, as earlier releases chose it.
    pub oof_folds: Option<OofFolds>,
    pub patient_specificity: Specificity,
    pub alarm_budget_per_hour: AlarmBudget,
    /// Fit temperature scaling on the validation split.
    pub temperature_scaling: bool,
}

/// Everything one training run is asked to do.
#[derive(Debug, Clone)]
pub struct TrainingSettings {
    /// The processed dataset preprocessing wrote.
    pub data: PathBuf,
    /// Where the model artifact goes.
    pub out: PathBuf,
    pub network: Network,
    pub epochs: NonZeroUsize,
    pub batch_size: NonZeroUsize,
    pub learning_rate: LearningRate,
    /// Epochs without a better validation loss before stopping early.
    pub patience: usize,
    pub seed: u64,
    pub sharding: Sharding,
    pub engine: Engine,
    pub windows: Windows,
    pub augmentation: Augmentation,
    /// Train on at most this many rows (a smoke run); None: all.
    pub max_train_rows: Option<NonZeroUsize>,
    pub decisions: DecisionSettings,
    /// The drift profile's calibration (its seed is the run's).
    pub drift: drift::BuildConfig,
    pub tracking: TrackingSettings,
    pub dvc: DvcSettings,
}

impl TrainingSettings {
    /// The network and the optimisation, on the dataset's layout and class weights.
    pub(crate) fn train_config(&self, manifest: &Manifest) -> anyhow::Result<TrainConfig> {
        let network = &self.network;
        let model = ModelConfig {
            front_end: network.front_end,
            lstm1_hidden: network.lstm_hidden.into_inner(),
            lstm2_hidden: network.lstm_hidden.into_inner(),
            dense_hidden: network.dense_hidden.into_inner(),
            dropout: network.dropout.into_inner(),
            ..ModelConfig::with_layout(manifest.layout)
        };
        if let Err(message) = model.front_end.sequence_shape(model.layout) {
            anyhow::bail!("--front-end: {message}");
        }
        Ok(TrainConfig {
            model,
            epochs: self.epochs.get(),
            batch_size: self.batch_size.get(),
            learning_rate: self.learning_rate.into_inner(),
            patience: self.patience,
            seed: self.seed,
            class_weights: manifest.class_weights,
            sharding: self.sharding,
            engine: self.engine,
        })
    }
}
