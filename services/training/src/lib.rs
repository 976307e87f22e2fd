//! training: the seizure LSTM, trained in burn on the processed dataset.
//!
//! Loads the preprocessing outputs (manifest checked), trains with Adam and early stopping,
//! writes the best weights as a model artifact under `--out` (atomically, with `<out>.dvc`),
//! and records the run (params, per-epoch metrics, the artifact) in the tracker: MLflow when
//! `MLFLOW_TRACKING_URI` is set, the local store otherwise.

pub mod logged_model;
pub mod oof;
pub mod profile;
pub mod shards;
pub mod train;
pub mod windows;

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc::{self, DvcPointer};
use clap::{Args, Parser};
use eeg_data::offsets::{QuarterOffsets, Windows as OffsetWindows};
use eeg_data::processed::{ProcessedDataset, Split, SplitArrays};
use indicatif::{ProgressBar, ProgressStyle};
use seizure_model::{artifact, FrontEnd, ModelCard, ModelConfig};
use stage_kit::{DvcArgs, TrackingArgs};
use tracking::{Metric, RunStatus};

use crate::train::{EpochMetrics, TrainConfig, TrainOutcome};
use crate::windows::{Augmentation, TrainingWindows, Windows};

/// Where the artifact goes inside the tracked run.
pub const ARTIFACT_PATH: &str = "model";

#[derive(Debug, Parser)]
#[command(name = "training", version, about = "Trains the seizure LSTM")]
pub struct Cli {
    #[command(flatten)]
    pub args: TrainingArgs,
    #[command(flatten)]
    pub log: telemetry::LogArgs,
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
    #[arg(long, env = "TRAIN_WINDOWS", value_enum, default_value_t = Windows::Random)]
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
    /// on the seed and this count, never on `--threads`. 1: the whole batch in one graph with
    /// burn's dropout, as before shards existed (about 1.5x slower on 2 cores).
    #[arg(long, env = "GRAD_SHARDS", default_value_t = 2,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub grad_shards: usize,
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

    fn drift_config(&self) -> drift::BuildConfig {
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

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let outcome = train_model(&cli.args)?;
    let last = outcome.history.last();
    println!(
        "trained {} epochs (best {}{}), validation loss {:.4}, accuracy {:.4}",
        outcome.history.len(),
        outcome.best_epoch,
        if outcome.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        outcome.card.metrics["val_loss"],
        outcome.card.metrics["val_accuracy"],
    );
    if let Some(d) = &outcome.card.decisions {
        print!("{}", decisions_summary(d));
    }
    if let Some(t) = &outcome.card.temperature_scaling {
        println!(
            "temperature scaling: T {:.3}, validation NLL {:.4} -> {:.4}",
            t.temperature, t.validation_nll_before, t.validation_nll_after
        );
    }
    match &outcome.card.decision_threshold {
        Some(t) => println!(
            "decision threshold {:.6} ({}: validation specificity {:.4}, sensitivity {:.4})",
            t.value, t.rule, t.validation_specificity, t.validation_sensitivity
        ),
        None => println!("no decision threshold: the validation scores are not finite (diverged)"),
    }
    if let Some(last) = last {
        println!(
            "speed: {:.0} samples/s, {:.2} s/epoch (last epoch)",
            last.samples_per_second, last.seconds
        );
    }
    println!(
        "wrote {} (run {} in the {} tracker at {})",
        cli.args.out.display(),
        outcome.run_id,
        outcome.tracker_kind,
        outcome.tracker_location
    );
    Ok(())
}

/// What a training run produced.
pub struct TrainingOutcome {
    pub card: ModelCard,
    pub run_id: String,
    pub tracker_kind: &'static str,
    pub tracker_location: String,
    pub history: Vec<EpochMetrics>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Stopped by `train_model_with`'s callback.
    pub pruned: bool,
    pub pointer: Option<DvcPointer>,
}

pub fn train_model(args: &TrainingArgs) -> anyhow::Result<TrainingOutcome> {
    train_model_with(args, &|_| ControlFlow::Continue(()))
}

/// [`train_model`], with `on_epoch` called after every epoch: `ControlFlow::Break` stops the
/// run there (the best epoch so far is kept, and the run is tagged `pruned`).
pub fn train_model_with(
    args: &TrainingArgs,
    on_epoch: &dyn Fn(&EpochMetrics) -> ControlFlow<()>,
) -> anyhow::Result<TrainingOutcome> {
    if args.epochs == 0 || args.batch_size == 0 {
        bail!("--epochs and --batch-size must be at least 1");
    }
    if !(args.learning_rate.is_finite() && args.learning_rate > 0.0) {
        bail!("--learning-rate must be a positive number");
    }
    if !(args.threshold_specificity > 0.0 && args.threshold_specificity <= 1.0) {
        bail!("--threshold-specificity must lie in (0, 1]");
    }
    if !(args.patient_specificity > 0.0 && args.patient_specificity <= 1.0) {
        bail!("--patient-specificity must lie in (0, 1]");
    }
    if !(args.alarm_budget_per_hour.is_finite() && args.alarm_budget_per_hour >= 0.0) {
        bail!("--alarm-budget-per-hour must be a number >= 0");
    }
    if args.oof_folds == 1 || args.oof_folds > 20 {
        bail!("--oof-folds must be 0 (none) or between 2 and 20");
    }
    args.dvc.fetch(&args.data)?;
    let dataset = ProcessedDataset::open(&args.data)
        .with_context(|| format!("cannot open the processed dataset {}", args.data.display()))?;
    let data_md5 = dvc::hash_dir(&args.data)?.md5;
    let mut train_split = dataset.split(Split::Train)?;
    let validation = dataset.split(Split::Validation)?;
    if let Some(limit) = args.max_train_rows {
        train_split = first_rows(&train_split, limit);
    }
    if train_split.rows() == 0 || validation.rows() == 0 {
        bail!(
            "{}: the training and validation splits must not be empty",
            args.data.display()
        );
    }
    let manifest = &dataset.manifest;
    let augmentation = Augmentation {
        gain: args.augment_gain,
        noise: args.augment_noise,
    };
    // Where random windows are cut from, and the drift profile (when the dataset keeps them).
    let needs_signals = args.windows == Windows::Random || !augmentation.is_none();
    let training_signals = match dataset.signals(Split::Train) {
        Ok(signals) => Some(signals).filter(|s| !s.is_empty()),
        Err(e) if needs_signals => return Err(e.into()),
        Err(_) => None,
    };
    let windows = TrainingWindows::new(
        &train_split,
        training_signals.as_ref().filter(|_| needs_signals),
        manifest.segments.len(),
        manifest.normalisation,
        args.windows,
        augmentation,
    )?;
    // The decision threshold is chosen on the validation segments cut at every quarter chunk
    // when the dataset keeps their signals (see `choose_threshold`).
    let threshold_windows = dataset
        .signals(Split::Validation)
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| OffsetWindows::cut(&s, QuarterOffsets::All));
    if !(1..=1024).contains(&args.lstm_hidden) || !(1..=1024).contains(&args.dense_hidden) {
        bail!("--lstm-hidden and --dense-hidden must be between 1 and 1024");
    }
    if !(0.0..1.0).contains(&args.dropout) {
        bail!("--dropout must lie in [0, 1)");
    }
    let model = ModelConfig {
        front_end: args.front_end.into(),
        lstm1_hidden: args.lstm_hidden,
        lstm2_hidden: args.lstm_hidden,
        dense_hidden: args.dense_hidden,
        dropout: args.dropout,
        ..ModelConfig::with_layout(manifest.layout)
    };
    if let Err(message) = model.front_end.sequence_shape(model.layout) {
        bail!("--front-end: {message}");
    }
    let config = TrainConfig {
        model,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        patience: args.patience,
        seed: args.seed,
        class_weights: manifest.class_weights,
        sharding: args.sharding(),
    };
    let mut card = ModelCard::new(config.model, manifest.normalisation);
    card.training_data_md5 = Some(data_md5.clone());
    card.git_commit = git_commit();

    let tracker = args.tracking.open()?;
    let run = tracker
        .create_run(&args.tracking.experiment, "training")
        .with_context(|| format!("cannot start a run in the {} tracker", tracker.kind()))?;
    card.run_id = Some(run.run_id.clone());
    tracing::info!(
        tracker = tracker.kind(),
        location = %tracker.location(),
        run_id = %run.run_id,
        train_rows = train_split.rows(),
        validation_rows = validation.rows(),
        "training started"
    );
    let result = (|| -> anyhow::Result<TrainingOutcome> {
        tracker.log_params(
            &run.run_id,
            &params(
                &config,
                args,
                &train_split,
                &validation,
                &data_md5,
                manifest,
            ),
        )?;
        let outcome = train_with_progress(&windows, &validation, &config, &card, |metrics| {
            if let Err(e) = tracker.log_metrics(&run.run_id, &epoch_metrics(metrics)) {
                tracing::warn!("cannot log epoch metrics: {e}");
            }
            on_epoch(metrics)
        });
        fill_metrics(&mut card, &outcome);
        if args.temperature_scaling {
            card.temperature_scaling = fit_temperature(&card, &outcome, &validation);
            match &card.temperature_scaling {
                Some(t) => {
                    tracing::info!(
                        temperature = t.temperature,
                        nll_before = t.validation_nll_before,
                        nll_after = t.validation_nll_after,
                        "temperature scaling fitted on validation"
                    );
                    tracker.log_metrics(
                        &run.run_id,
                        &[
                            Metric::now("temperature", t.temperature, 0),
                            Metric::now("val_nll_calibrated", t.validation_nll_after, 0),
                        ],
                    )?;
                }
                None => tracing::warn!("no temperature: the validation logits are not finite"),
            }
        }
        // After any temperature scaling: the threshold applies to the served probabilities.
        card.decision_threshold = choose_threshold(
            &card,
            &outcome,
            &validation,
            threshold_windows.as_ref(),
            args.threshold_specificity,
        );
        match &card.decision_threshold {
            Some(chosen) => tracker.log_metrics(
                &run.run_id,
                &[
                    Metric::now("decision_threshold", chosen.value, 0),
                    Metric::now(
                        "val_specificity_at_threshold",
                        chosen.validation_specificity,
                        0,
                    ),
                    Metric::now(
                        "val_sensitivity_at_threshold",
                        chosen.validation_sensitivity,
                        0,
                    ),
                ],
            )?,
            None => tracing::warn!(
                "no decision threshold: the validation scores are not all finite (the training \
                 diverged); evaluation will refuse this model"
            ),
        }
        if args.oof_folds > 0 && card.decision_threshold.is_some() {
            let started = std::time::Instant::now();
            card.decisions =
                out_of_fold(args, &dataset, &train_split, &validation, &config, &card)?;
            match &card.decisions {
                Some(d) => {
                    let mut metrics = vec![
                        Metric::now("oof_window_threshold", d.window.threshold, 0),
                        Metric::now("oof_window_specificity", d.window.specificity.value, 0),
                        Metric::now("oof_window_sensitivity", d.window.sensitivity.value, 0),
                        Metric::now("oof_patient_threshold", d.patient.threshold, 0),
                        Metric::now("oof_patient_accuracy", d.patient.accuracy.value, 0),
                        Metric::now("oof_seconds", started.elapsed().as_secs_f64(), 0),
                    ];
                    if let Some(a) = &d.alarm {
                        metrics.push(Metric::now(
                            "oof_false_alarms_per_hour",
                            a.false_alarms_per_hour,
                            0,
                        ));
                        metrics.push(Metric::now("oof_event_sensitivity", a.event_sensitivity, 0));
                    }
                    tracker.log_metrics(&run.run_id, &metrics)?;
                }
                None => tracing::warn!(
                    "no out-of-fold decisions: a fold's scores are not all finite, or a class is \
                     missing; the validation threshold decides"
                ),
            }
        }
        let profile = training_signals.as_ref().and_then(|signals| {
            let predictor = seizure_model::Predictor::from_network(card.clone(), &outcome.network);
            let mut profile = profile::build(&predictor, signals, &args.drift_config())?;
            // Every recording of the data set is public: posted back, it is not new input.
            let published = eeg_data::fingerprint::of_dataset(&dataset);
            for e in &published.unreadable {
                tracing::warn!(
                    "the drift profile does not recognise this split's recordings when they \
                     come back as input: {e}"
                );
            }
            profile.published_recordings = published.fingerprints;
            Some(profile)
        });
        let saved = atomic::replace_dir(&args.out, |dir| -> anyhow::Result<ModelCard> {
            let mut card = card.clone();
            if let Some(profile) = &profile {
                card.drift_profile = Some(artifact::save_profile(dir, profile)?);
            }
            let saved = artifact::save(dir, &outcome.network, &card)?;
            logged_model::write(dir, &saved, &outcome.network)?;
            Ok(saved)
        })
        .with_context(|| format!("cannot write {}", args.out.display()))?;
        tracker.log_model(&run.run_id, &args.out, ARTIFACT_PATH)?;
        tracker.set_tags(
            &run.run_id,
            &[
                ("data_md5".into(), data_md5.clone()),
                ("weights_md5".into(), saved.weights_md5.clone()),
                ("pruned".into(), outcome.pruned.to_string()),
            ],
        )?;
        let pointer = args.dvc.track(&args.out)?;
        Ok(TrainingOutcome {
            card: saved,
            run_id: run.run_id.clone(),
            tracker_kind: tracker.kind(),
            tracker_location: tracker.location(),
            history: outcome.history,
            best_epoch: outcome.best_epoch,
            stopped_early: outcome.stopped_early,
            pruned: outcome.pruned,
            pointer,
        })
    })();
    if let Err(e) = tracker.finish_run(&run.run_id, RunStatus::of(&result)) {
        tracing::warn!("cannot close run {}: {e}", run.run_id);
    }
    result
}

/// The out-of-fold decisions, in a few lines.
pub fn decisions_summary(d: &seizure_model::Decisions) -> String {
    let rate = |r: &seizure_model::decisions::Rate| {
        format!(
            "{:.4} [{:.4}, {:.4}] ({}/{})",
            r.value, r.interval[0], r.interval[1], r.count, r.of
        )
    };
    let mut text = format!(
        "decisions on {}:\n  window: threshold {:.6} for specificity >= {}: specificity {}, sensitivity {}\n  \
         patient: {} >= {:.4} (gap {:.4}..{:.4}) for specificity >= {}: right {}, specificity {}, sensitivity {}\n",
        d.evidence.source,
        d.window.threshold,
        d.window.target_specificity,
        rate(&d.window.specificity),
        rate(&d.window.sensitivity),
        d.patient.rule.as_str(),
        d.patient.threshold,
        d.patient.margin[0],
        d.patient.margin[1],
        d.patient.target_specificity,
        rate(&d.patient.accuracy),
        rate(&d.patient.specificity),
        rate(&d.patient.sensitivity),
    );
    match &d.alarm {
        Some(a) => text.push_str(&format!(
            "  alarm: threshold {:.4}, {} of {}, refractory {} s: {} false alarms in {:.2} h of distinct \
             background = {:.2}/h [{:.2}, {:.2}]; {}/{} seizures detected ({:.3}), latency median {} s, \
             p90 {} s; {} ({} rules compared)\n",
            a.threshold,
            a.k,
            a.n,
            a.refractory_s,
            a.false_alarms,
            a.background_hours,
            a.false_alarms_per_hour,
            a.false_alarms_per_hour_interval[0],
            a.false_alarms_per_hour_interval[1],
            a.detected,
            a.seizures,
            a.event_sensitivity,
            a.latency_median_s.map_or("-".into(), |v| format!("{v:.2}")),
            a.latency_p90_s.map_or("-".into(), |v| format!("{v:.2}")),
            if a.meets_targets {
                format!("meets the targets (<= {}/h)", a.budget_per_hour)
            } else {
                format!("MISSES the targets (<= {}/h, sensitivity >= 0.95, median latency <= 5 s)", a.budget_per_hour)
            },
            a.rules_compared,
        )),
        None => text.push_str("  alarm: none chosen (no continuous signals)\n"),
    }
    text
}

/// The out-of-fold decisions ([`oof`]): None (with a warning) for a dataset without the
/// continuous signals of its training and validation segments (an older preprocessing).
fn out_of_fold(
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
fn fit_temperature(
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
fn choose_threshold(
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

fn train_with_progress(
    train: &TrainingWindows,
    validation: &SplitArrays,
    config: &TrainConfig,
    card: &ModelCard,
    mut log_epoch: impl FnMut(&EpochMetrics) -> ControlFlow<()>,
) -> TrainOutcome {
    let batches = train.len().div_ceil(config.batch_size) as u64;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(batches * config.epochs as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} batches, {elapsed} {msg}")
                .expect("the template is valid"),
        );
        Some(bar)
    } else {
        None
    };
    let outcome = train::train(
        train,
        validation,
        config,
        card,
        || {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        },
        |m| {
            match &bar {
                Some(bar) => bar.set_message(format!(
                    "epoch {}: val loss {:.4}, val acc {:.4}",
                    m.epoch, m.val_loss, m.val_accuracy
                )),
                None => tracing::info!(
                    epoch = m.epoch,
                    train_loss = m.train_loss,
                    train_accuracy = m.train_accuracy,
                    val_loss = m.val_loss,
                    val_accuracy = m.val_accuracy,
                    seconds = m.seconds,
                    samples_per_second = m.samples_per_second,
                    "epoch"
                ),
            }
            log_epoch(m)
        },
    );
    if let Some(bar) = bar {
        bar.finish();
    }
    outcome
}

fn params(
    config: &TrainConfig,
    args: &TrainingArgs,
    train: &SplitArrays,
    validation: &SplitArrays,
    data_md5: &str,
    manifest: &eeg_data::processed::Manifest,
) -> Vec<(String, String)> {
    let model = &config.model;
    [
        ("epochs", config.epochs.to_string()),
        ("batch_size", config.batch_size.to_string()),
        ("learning_rate", config.learning_rate.to_string()),
        ("optimizer", "adam".into()),
        ("patience", config.patience.to_string()),
        ("seed", config.seed.to_string()),
        ("grad_shards", config.sharding.shards.to_string()),
        ("train_threads", config.sharding.threads.to_string()),
        (
            "layout",
            format!("{}x{}", model.layout.timesteps, model.layout.features),
        ),
        ("front_end", model.front_end.name()),
        ("lstm1_hidden", model.lstm1_hidden.to_string()),
        ("lstm2_hidden", model.lstm2_hidden.to_string()),
        ("dropout", model.dropout.to_string()),
        ("dense_hidden", model.dense_hidden.to_string()),
        ("class_weights", format!("{:?}", config.class_weights)),
        ("balance", format!("{:?}", manifest.balance).to_lowercase()),
        ("windows", args.windows.name().to_owned()),
        ("augment_gain", args.augment_gain.to_string()),
        ("augment_noise", args.augment_noise.to_string()),
        (
            "centring",
            format!("{:?}", manifest.normalisation.centring).to_lowercase(),
        ),
        ("train_rows", train.rows().to_string()),
        ("validation_rows", validation.rows().to_string()),
        ("data_md5", data_md5.to_owned()),
        ("split_seed", manifest.seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn epoch_metrics(m: &EpochMetrics) -> Vec<Metric> {
    let step = m.epoch as i64;
    vec![
        Metric::now("train_loss", m.train_loss, step),
        Metric::now("train_accuracy", m.train_accuracy, step),
        Metric::now("val_loss", m.val_loss, step),
        Metric::now("val_accuracy", m.val_accuracy, step),
        Metric::now("epoch_seconds", m.seconds, step),
        Metric::now("samples_per_second", m.samples_per_second, step),
    ]
}

fn fill_metrics(card: &mut ModelCard, outcome: &TrainOutcome) {
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

/// The first `limit` rows of a split.
fn first_rows(split: &SplitArrays, limit: usize) -> SplitArrays {
    let n = limit.min(split.rows());
    SplitArrays {
        x: split.x.slice(ndarray::s![..n, .., ..]).to_owned(),
        y: split.y.slice(ndarray::s![..n]).to_owned(),
        class: split.class.slice(ndarray::s![..n]).to_owned(),
        segment: split.segment.slice(ndarray::s![..n]).to_owned(),
        chunk: split.chunk.slice(ndarray::s![..n]).to_owned(),
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
