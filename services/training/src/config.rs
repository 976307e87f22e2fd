//! The command line: what a training run is asked to do.

use std::path::PathBuf;

use anyhow::bail;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser};
use eeg_data::processed::Manifest;
use seizure_model::{FrontEnd, ModelConfig};
use service_flags::{DvcArgs, TrackingArgs};

use crate::engine::Engine;
use crate::shards;
use crate::train::TrainConfig;
use crate::windows::{Augmentation, Windows};

#[derive(Debug, Parser)]
#[command(name = "training", version, about = "Trains the seizure LSTM")]
pub struct Cli {
    #[command(flatten)]
    pub args: TrainingArgs,
    #[command(flatten)]
    pub log: service_flags::LogArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    /// The processed-dataset directory written by preprocessing.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data: PathBuf,
    /// Where the model artifact goes (replaced atomically; tracked by `<out>.dvc`).
    #[arg(long, env = "MODELS_DIR", default_value = "models")]
    pub out: PathBuf,
    /// Maximum epochs.
    #[arg(long, env = "EPOCHS", default_value_t = 60)]
    pub epochs: usize,
    #[arg(long, env = "BATCH_SIZE", default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, env = "LEARNING_RATE", default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// Epochs without a better validation loss before stopping early.
    #[arg(long, env = "PATIENCE", default_value_t = 8)]
    pub patience: usize,
    /// Seed of the initialisation, dropout and batch order.
    #[arg(long, env = "TRAIN_SEED", default_value_t = 42)]
    pub seed: u64,
    /// The decision threshold is the lowest one reaching this specificity on the validation
    /// split; it is stored in the model card and used by evaluation and inference.
    #[arg(long, env = "THRESHOLD_SPECIFICITY", default_value_t = seizure_model::threshold::DEFAULT_TARGET_SPECIFICITY)]
    pub threshold_specificity: f64,
    /// Folds of the out-of-fold evidence the model's window, patient and alarm decisions are
    /// chosen on (a model per fold, each trained as the served one without its fold's
    /// segments); 0 chooses the one threshold on the validation split as earlier releases did.
    #[arg(long, env = "OOF_FOLDS", default_value_t = 5)]
    pub oof_folds: usize,
    /// The patient decision's target specificity (out of fold, over segments as patients).
    #[arg(long, env = "PATIENT_SPECIFICITY", default_value_t = seizure_model::decisions::DEFAULT_PATIENT_TARGET_SPECIFICITY)]
    pub patient_specificity: f64,
    /// The bedside alarm rule's false-alarm budget per hour (out of fold, each background
    /// segment once), at event sensitivity >= 0.95 and median latency <= 5 s.
    #[arg(long, env = "ALARM_BUDGET_PER_HOUR", default_value_t = seizure_model::decisions::DEFAULT_ALARM_BUDGET_PER_HOUR)]
    pub alarm_budget_per_hour: f64,
    /// Fit temperature scaling on the validation split (calibrated probabilities; the ranking
    /// and ROC AUC are unchanged). Stored in the model card and applied wherever it is used.
    #[arg(long, env = "TEMPERATURE_SCALING", default_value_t = false, action = clap::ArgAction::Set)]
    pub temperature_scaling: bool,
    /// What the first LSTM reads: the layout's frames of raw samples (`frames`, the reference
    /// network) or a 1D convolution over them (`conv`: 32 filters of 16 samples, stride 8).
    #[arg(long, env = "FRONT_END", value_enum, default_value_t = FrontEndArg::Frames)]
    pub front_end: FrontEndArg,
    /// Hidden units of each LSTM layer.
    #[arg(long, env = "LSTM_HIDDEN", default_value_t = ModelConfig::default().lstm1_hidden)]
    pub lstm_hidden: usize,
    /// Units of the dense layer before the output.
    #[arg(long, env = "DENSE_HIDDEN", default_value_t = ModelConfig::default().dense_hidden)]
    pub dense_hidden: usize,
    /// Dropout after each LSTM layer, in [0, 1).
    #[arg(long, env = "DROPOUT", default_value_t = ModelConfig::default().dropout)]
    pub dropout: f64,
    /// Where training windows start: anywhere in the segment's continuous signal, drawn
    /// afresh every epoch (`random`), or at the data set's chunk boundaries (`aligned`).
    #[arg(long, env = "TRAIN_WINDOWS", default_value = "random",
        value_parser = PossibleValuesParser::new(Windows::ALL.map(Windows::name))
            .map(|name| name.parse::<Windows>().expect("one of the possible values")))]
    pub windows: Windows,
    /// Random gain of each training window, uniform in [1 - g, 1 + g] (0: none). The default
    /// 0.2 keeps ROC AUC above 0.995 at gains 0.7 and 1.3 (docs/model.md).
    #[arg(long, env = "AUGMENT_GAIN", default_value_t = 0.2)]
    pub augment_gain: f64,
    /// Standard deviation of white noise added to each raw training window (0: none).
    #[arg(long, env = "AUGMENT_NOISE", default_value_t = 0.0)]
    pub augment_noise: f64,
    /// Train on at most this many training rows (a quick smoke run); all by default.
    #[arg(long, env = "MAX_TRAIN_ROWS")]
    pub max_train_rows: Option<usize>,
    /// Gradient shards per mini-batch: each shard's forward and backward pass may run on its
    /// own thread, and their gradients are summed in a fixed order. The trained weights depend
    /// on the seed and this count, never on `--threads`. 1: the whole batch as one shard (on the
    /// burn engine: one graph with burn's own dropout, as before shards existed).
    #[arg(long, env = "GRAD_SHARDS", default_value_t = 2,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub grad_shards: usize,
    /// The code that computes the gradients: `native` (the network's backward pass written out
    /// on the serving kernels, the default: faster) or `burn` (burn's autodiff, the reference;
    /// the gradients agree to 1e-5).
    #[arg(long, env = "TRAIN_ENGINE", default_value = "native",
        value_parser = PossibleValuesParser::new(Engine::ALL.map(Engine::name))
            .map(|name| name.parse::<Engine>().expect("one of the possible values")))]
    pub engine: Engine,
    /// Threads the shards run on. Unset: one per core, at most one per shard.
    #[arg(long, env = "TRAIN_THREADS",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub threads: Option<usize>,
    /// Incoming windows the service's drift statistics compare at a time (the profile's
    /// thresholds are calibrated for it; lowered to what the training data support).
    #[arg(long, env = "DRIFT_WINDOW", default_value_t = drift::BuildConfig::default().window,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(drift::profile::MIN_WINDOW as u64..=100_000))]
    pub drift_window: usize,
    /// Permutations calibrating the drift thresholds.
    #[arg(long, env = "DRIFT_PERMUTATIONS", default_value_t = drift::BuildConfig::default().permutations,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(100..=100_000))]
    pub drift_permutations: usize,
    #[command(flatten)]
    pub tracking: TrackingArgs,
    #[command(flatten)]
    pub dvc: DvcArgs,
}

impl TrainingArgs {
    /// The shards, and the threads they run on (`--threads`, else the cores).
    pub fn sharding(&self) -> shards::Sharding {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        shards::Sharding {
            shards: self.grad_shards,
            threads: self.threads.unwrap_or(cores).min(self.grad_shards),
        }
    }

    pub(crate) fn drift_config(&self) -> drift::BuildConfig {
        drift::BuildConfig {
            window: self.drift_window,
            permutations: self.drift_permutations,
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// The architectures `--front-end` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FrontEndArg {
    Frames,
    Conv,
}

impl From<FrontEndArg> for FrontEnd {
    fn from(arg: FrontEndArg) -> Self {
        match arg {
            FrontEndArg::Frames => FrontEnd::Frames,
            FrontEndArg::Conv => FrontEnd::CONV,
        }
    }
}

impl TrainingArgs {
    /// Refuses settings no run can use (checked before the data are read).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            bail!("--epochs and --batch-size must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            bail!("--learning-rate must be a positive number");
        }
        if !(self.threshold_specificity > 0.0 && self.threshold_specificity <= 1.0) {
            bail!("--threshold-specificity must lie in (0, 1]");
        }
        if !(self.patient_specificity > 0.0 && self.patient_specificity <= 1.0) {
            bail!("--patient-specificity must lie in (0, 1]");
        }
        if !(self.alarm_budget_per_hour.is_finite() && self.alarm_budget_per_hour >= 0.0) {
            bail!("--alarm-budget-per-hour must be a number >= 0");
        }
        if self.oof_folds == 1 || self.oof_folds > 20 {
            bail!("--oof-folds must be 0 (none) or between 2 and 20");
        }
        Ok(())
    }

    /// The network and the optimisation these arguments ask for, on the dataset's layout and
    /// class weights.
    pub(crate) fn train_config(&self, manifest: &Manifest) -> anyhow::Result<TrainConfig> {
        if !(1..=1024).contains(&self.lstm_hidden) || !(1..=1024).contains(&self.dense_hidden) {
            bail!("--lstm-hidden and --dense-hidden must be between 1 and 1024");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("--dropout must lie in [0, 1)");
        }
        let model = ModelConfig {
            front_end: self.front_end.into(),
            lstm1_hidden: self.lstm_hidden,
            lstm2_hidden: self.lstm_hidden,
            dense_hidden: self.dense_hidden,
            dropout: self.dropout,
            ..ModelConfig::with_layout(manifest.layout)
        };
        if let Err(message) = model.front_end.sequence_shape(model.layout) {
            bail!("--front-end: {message}");
        }
        Ok(TrainConfig {
            model,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            patience: self.patience,
            seed: self.seed,
            class_weights: manifest.class_weights,
            sharding: self.sharding(),
            engine: self.engine,
        })
    }

    /// The augmentation of the training windows.
    pub(crate) fn augmentation(&self) -> Augmentation {
        Augmentation {
            gain: self.augment_gain,
            noise: self.augment_noise,
        }
    }
}
