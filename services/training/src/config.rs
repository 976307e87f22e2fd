//! The command line: what a training run is asked to do, as flags with environment
//! fallbacks; [`TrainingArgs::settings`] parses it into [`TrainingSettings`].

use std::path::PathBuf;

use std::num::NonZeroUsize;

use anyhow::{anyhow, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser};
use seizure_model::{FrontEnd, ModelConfig};
use service_flags::{DvcArgs, TrackingArgs};

use crate::engine::Engine;
use crate::settings::{
    AlarmBudget, DecisionSettings, Dropout, LearningRate, Network, OofFolds, Specificity,
    TrainingSettings, Units,
};
use crate::shards::Sharding;
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
    /// What the first LSTM reads: a 1D convolution over the raw samples (`conv`: 32 filters of
    /// 16 samples, stride 8; the default, chosen on nested cross-validation, docs/evaluation.md)
    /// or the layout's frames of raw samples (`frames`, the reference network).
    #[arg(long, env = "FRONT_END", value_enum, default_value_t = FrontEndArg::Conv)]
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
    /// The run these arguments ask for, every number within its bounds (checked before the
    /// data are read); the error names the flag.
    pub fn settings(&self) -> anyhow::Result<TrainingSettings> {
        let (Some(epochs), Some(batch_size)) = (
            NonZeroUsize::new(self.epochs),
            NonZeroUsize::new(self.batch_size),
        ) else {
            bail!("--epochs and --batch-size must be at least 1");
        };
        let learning_rate = LearningRate::try_new(self.learning_rate)
            .map_err(|_| anyhow!("--learning-rate must be a positive number"))?;
        let specificity = |value: f64, flag: &str| {
            Specificity::try_new(value).map_err(|_| anyhow!("--{flag} must lie in (0, 1]"))
        };
        let window_specificity = specificity(self.threshold_specificity, "threshold-specificity")?;
        let patient_specificity = specificity(self.patient_specificity, "patient-specificity")?;
        let alarm_budget_per_hour = AlarmBudget::try_new(self.alarm_budget_per_hour)
            .map_err(|_| anyhow!("--alarm-budget-per-hour must be a number >= 0"))?;
        let oof_folds = match self.oof_folds {
            0 => None,
            folds => Some(
                OofFolds::try_new(folds)
                    .map_err(|_| anyhow!("--oof-folds must be 0 (none) or between 2 and 20"))?,
            ),
        };
        let (Ok(lstm_hidden), Ok(dense_hidden)) = (
            Units::try_new(self.lstm_hidden),
            Units::try_new(self.dense_hidden),
        ) else {
            bail!("--lstm-hidden and --dense-hidden must be between 1 and 1024");
        };
        let dropout =
            Dropout::try_new(self.dropout).map_err(|_| anyhow!("--dropout must lie in [0, 1)"))?;
        let augmentation = Augmentation {
            gain: self.augment_gain,
            noise: self.augment_noise,
        }
        .checked()?;
        let max_train_rows = match self.max_train_rows {
            None => None,
            Some(rows) => Some(
                NonZeroUsize::new(rows)
                    .ok_or_else(|| anyhow!("--max-train-rows must be at least 1"))?,
            ),
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(TrainingSettings {
            data: self.data.clone(),
            out: self.out.clone(),
            network: Network {
                front_end: self.front_end.into(),
                lstm_hidden,
                dense_hidden,
                dropout,
            },
            epochs,
            batch_size,
            learning_rate,
            patience: self.patience,
            seed: self.seed,
            sharding: Sharding {
                shards: self.grad_shards,
                threads: self.threads.unwrap_or(cores).min(self.grad_shards),
            },
            engine: self.engine,
            windows: self.windows,
            augmentation,
            max_train_rows,
            decisions: DecisionSettings {
                window_specificity,
                oof_folds,
                patient_specificity,
                alarm_budget_per_hour,
                temperature_scaling: self.temperature_scaling,
            },
            drift: drift::BuildConfig {
                window: self.drift_window,
                permutations: self.drift_permutations,
                seed: self.seed,
                ..Default::default()
            },
            tracking: self.tracking.settings(),
            dvc: self.dvc.settings(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flags: &[&str]) -> anyhow::Result<TrainingSettings> {
        let argv = std::iter::once("training").chain(flags.iter().copied());
        Cli::try_parse_from(argv)?.args.settings()
    }

    #[test]
    fn the_flags_parse_into_settings_at_their_bounds() {
        // Every value is given, so a variable set in the shell (EPOCHS=2 ...) changes nothing.
        let parsed = settings(&[
            "--epochs",
            "1",
            "--batch-size",
            "1",
            "--learning-rate",
            "1e-9",
            "--threshold-specificity",
            "1",
            "--patient-specificity",
            "1e-6",
            "--alarm-budget-per-hour",
            "0",
            "--oof-folds",
            "2",
            "--lstm-hidden",
            "1",
            "--dense-hidden",
            "1024",
            "--dropout",
            "0",
            "--augment-gain",
            "0",
            "--augment-noise",
            "0",
            "--max-train-rows",
            "1",
            "--seed",
            "7",
            "--grad-shards",
            "3",
            "--threads",
            "2",
        ])
        .unwrap();
        assert_eq!(parsed.epochs.get(), 1);
        assert_eq!(parsed.decisions.window_specificity.into_inner(), 1.0);
        assert_eq!(
            parsed.decisions.oof_folds.map(OofFolds::into_inner),
            Some(2)
        );
        assert_eq!(parsed.decisions.alarm_budget_per_hour.into_inner(), 0.0);
        assert_eq!(parsed.network.lstm_hidden.into_inner(), 1);
        assert_eq!(parsed.network.dense_hidden.into_inner(), 1024);
        assert_eq!(parsed.network.dropout.into_inner(), 0.0);
        assert_eq!(parsed.max_train_rows.map(NonZeroUsize::get), Some(1));
        assert_eq!(
            parsed.drift.seed, 7,
            "the drift profile's seed is the run's"
        );
        assert_eq!(
            parsed.sharding,
            Sharding {
                shards: 3,
                threads: 2
            }
        );
        let upper = settings(&["--oof-folds", "20", "--dropout", "0.999"]).unwrap();
        assert_eq!(
            upper.decisions.oof_folds.map(OofFolds::into_inner),
            Some(20)
        );
        let none = settings(&["--oof-folds", "0", "--threads", "8", "--grad-shards", "2"]).unwrap();
        assert_eq!(none.decisions.oof_folds, None);
        assert_eq!(none.sharding.threads, 2, "at most one thread per shard");
    }

    #[test]
    fn hostile_numbers_are_refused_naming_their_flag() {
        for (flags, message) in [
            (
                &["--epochs", "0"][..],
                "--epochs and --batch-size must be at least 1",
            ),
            (
                &["--batch-size", "0"],
                "--epochs and --batch-size must be at least 1",
            ),
            (
                &["--learning-rate", "NaN"],
                "--learning-rate must be a positive number",
            ),
            (
                &["--learning-rate", "inf"],
                "--learning-rate must be a positive number",
            ),
            (
                &["--learning-rate", "0"],
                "--learning-rate must be a positive number",
            ),
            (
                &["--threshold-specificity", "0"],
                "--threshold-specificity must lie in (0, 1]",
            ),
            (
                &["--threshold-specificity", "1.5"],
                "--threshold-specificity must lie in (0, 1]",
            ),
            (
                &["--patient-specificity", "NaN"],
                "--patient-specificity must lie in (0, 1]",
            ),
            (
                &["--alarm-budget-per-hour=-1"],
                "--alarm-budget-per-hour must be a number >= 0",
            ),
            (
                &["--alarm-budget-per-hour", "inf"],
                "--alarm-budget-per-hour must be a number >= 0",
            ),
            (
                &["--oof-folds", "1"],
                "--oof-folds must be 0 (none) or between 2 and 20",
            ),
            (
                &["--oof-folds", "21"],
                "--oof-folds must be 0 (none) or between 2 and 20",
            ),
            (
                &["--lstm-hidden", "0"],
                "--lstm-hidden and --dense-hidden must be between 1 and 1024",
            ),
            (
                &["--dense-hidden", "1025"],
                "--lstm-hidden and --dense-hidden must be between 1 and 1024",
            ),
            (&["--dropout", "1"], "--dropout must lie in [0, 1)"),
            (&["--dropout", "NaN"], "--dropout must lie in [0, 1)"),
            (&["--dropout=-0.1"], "--dropout must lie in [0, 1)"),
            (
                &["--threshold-specificity=-0.5"],
                "--threshold-specificity must lie in (0, 1]",
            ),
            (
                &["--patient-specificity", "0"],
                "--patient-specificity must lie in (0, 1]",
            ),
            (
                &["--augment-gain", "1"],
                "--augment-gain must lie in [0, 1), got 1",
            ),
            (
                &["--augment-gain", "NaN"],
                "--augment-gain must lie in [0, 1), got NaN",
            ),
            (
                &["--augment-noise", "inf"],
                "--augment-noise must be a finite number >= 0, got inf",
            ),
            (
                &["--max-train-rows", "0"],
                "--max-train-rows must be at least 1",
            ),
        ] {
            let error = settings(flags)
                .err()
                .unwrap_or_else(|| panic!("{flags:?} parsed"));
            assert_eq!(error.to_string(), message, "{flags:?}");
        }
    }
}
