//! `seizure-ops tune`: a random search over the training recipe.
//!
//! `--trials` configurations are drawn from [`space`] (architecture, layout, hidden sizes,
//! dropout, learning rate, batch size, training windows, gain augmentation) with a seeded
//! sampler. Each trial is a full training run with the pipeline's other settings, on the
//! pipeline's split prepared once per layout, tracked as a child of one parent run
//! (`mlflow.parentRunId`, so the MLflow UI nests them). Trials run `--parallel` at a time, one
//! per core; a hopeless one is stopped by median pruning ([`pruner`]) on its validation loss,
//! and nothing starts after `--budget-minutes` (a running trial stops at its next epoch).
//!
//! The score is the validation split's, never the test split's: ROC AUC of the validation
//! segments cut at every quarter chunk (the windows a bedside stream presents), ties broken by
//! sensitivity at specificity 0.98, then by validation loss. `tune/tune.json` has every trial;
//! `tune/best-params.yaml` the best configuration as `params.yaml` keys.

mod pruner;
pub mod space;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use eeg_data::layout::InputLayout;
use eeg_data::offsets::{QuarterOffsets, Windows as OffsetWindows};
use eeg_data::prepare::{prepare, PrepareOptions, SplitOptions};
use eeg_data::processed::{ProcessedDataset, Split};
use evaluate::metrics::{roc_auc, sensitivity_at_specificity};
use seizure_model::Predictor;
use serde::Serialize;
use stage_kit::DvcArgs;
use tracking::{Metric, RunStatus, Tracker};

use crate::pipeline::{announce_tracking, raw_csv, tracking, PipelineArgs};
use crate::Home;
use pruner::{MedianPruner, Reports};
use space::TrialConfig;

/// The specificity at which the tie-breaking sensitivity is read (the evaluation's target).
const TARGET_SPECIFICITY: f64 = seizure_model::threshold::DEFAULT_TARGET_SPECIFICITY;

#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// Configurations to draw and train (random search).
    #[arg(long, default_value_t = 12)]
    pub trials: usize,
    /// No trial starts after this many minutes; a running one stops at its next epoch.
    #[arg(long, default_value_t = 60.0)]
    pub budget_minutes: f64,
    /// Trials trained at the same time, each on one core. Unset: the machine's cores. With
    /// more than one, trials share burn's global random generator, so a trial's weights are
    /// reproducible only with `--parallel 1`.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Seed of the sampler: the same seed draws the same configurations.
    #[arg(long = "tune-seed", default_value_t = 7)]
    pub seed: u64,
    /// Median pruning starts at this epoch (1-based), once two other trials have reached it.
    #[arg(long, default_value_t = 4)]
    pub prune_warmup: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialStatus {
    /// Trained until early stopping or the epoch limit.
    Completed,
    /// Stopped by median pruning; never chosen as the best.
    Pruned,
    /// Stopped at the time budget; scored on its best epoch so far.
    StoppedAtBudget,
    /// The budget ran out before it started.
    NotStarted,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// 1-based.
    pub trial: usize,
    pub config: TrialConfig,
    pub status: TrialStatus,
    pub run_id: Option<String>,
    pub epochs: usize,
    pub best_val_loss: Option<f64>,
    /// ROC AUC of the validation segments cut at every quarter chunk.
    pub val_roc_auc: Option<f64>,
    pub val_sensitivity_at_target_specificity: Option<f64>,
    pub seconds: f64,
    pub error: Option<String>,
}

impl TrialResult {
    fn eligible(&self) -> bool {
        matches!(
            self.status,
            TrialStatus::Completed | TrialStatus::StoppedAtBudget
        ) && self.val_roc_auc.is_some_and(f64::is_finite)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub parent_run_id: String,
    pub source_csv: String,
    pub seed: u64,
    pub parallel: usize,
    pub budget_minutes: f64,
    pub objective: &'static str,
    pub trials: Vec<TrialResult>,
    /// 1-based trial number of the best eligible trial.
    pub best_trial: Option<usize>,
    pub seconds: f64,
}

const OBJECTIVE: &str = "validation ROC AUC at every quarter-chunk offset (ties: sensitivity at \
                         specificity 0.98, then validation loss); the test split is never used";

pub fn run_tune(
    home: &Home,
    pipeline: &PipelineArgs,
    args: &TuneArgs,
) -> anyhow::Result<TuneReport> {
    if !(1..=1000).contains(&args.trials) {
        anyhow::bail!("--trials must be between 1 and 1000");
    }
    // A week at most: beyond it the deadline would overflow the clock.
    if !(args.budget_minutes.is_finite() && args.budget_minutes > 0.0)
        || args.budget_minutes > 7.0 * 24.0 * 60.0
    {
        anyhow::bail!("--budget-minutes must be a positive number of minutes, at most a week");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let parallel = args.parallel.unwrap_or(cores).min(args.trials);
    if !(1..=64).contains(&parallel) {
        anyhow::bail!("--parallel must be between 1 and 64");
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.budget_minutes * 60.0);
    let csv = raw_csv(home, pipeline)?;
    let configs = TrialConfig::sample_many(args.seed, args.trials);
    let data = prepare_layouts(home, &csv, &configs)?;

    announce_tracking(home)?;
    let tracking_args = tracking(home)?;
    let tracker = tracking_args.open()?;
    let parent = tracker
        .create_run(&tracking_args.experiment, &format!("tune-{}", args.trials))
        .with_context(|| format!("cannot start a run in the {} tracker", tracker.kind()))?;
    let result = (|| -> anyhow::Result<TuneReport> {
        tracker.log_params(
            &parent.run_id,
            &[
                ("trials".into(), args.trials.to_string()),
                ("tune_seed".into(), args.seed.to_string()),
                ("parallel".into(), parallel.to_string()),
                ("budget_minutes".into(), args.budget_minutes.to_string()),
                ("prune_warmup".into(), args.prune_warmup.to_string()),
                ("objective".into(), "val_window_roc_auc".into()),
                ("source_csv".into(), csv.display().to_string()),
            ],
        )?;
        println!(
            "tuning: {} trials, {parallel} at a time, budget {} min, sampler seed {}",
            args.trials, args.budget_minutes, args.seed
        );
        let search = Search {
            home,
            pipeline,
            data: &data,
            tracker: tracker.as_ref(),
            parent_run_id: &parent.run_id,
            deadline,
            pruner: MedianPruner {
                warmup_epochs: args.prune_warmup,
                min_trials: 2,
            },
            reports: Reports::new(args.trials),
            // The cores left to each trial for its gradient shards.
            threads_per_trial: (cores / parallel).max(1),
        };
        let trials = search.run_all(&configs, parallel);
        let best = best_trial(&trials);
        let report = TuneReport {
            parent_run_id: parent.run_id.clone(),
            source_csv: csv.display().to_string(),
            seed: args.seed,
            parallel,
            budget_minutes: args.budget_minutes,
            objective: OBJECTIVE,
            best_trial: best.map(|t| t.trial),
            trials: trials.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        write_outputs(home, &report, best)?;
        match best {
            Some(best) => {
                tracker.log_metrics(
                    &parent.run_id,
                    &[
                        Metric::now("best_val_roc_auc", best.val_roc_auc.unwrap_or(f64::NAN), 0),
                        Metric::now(
                            "best_val_sensitivity_at_target_specificity",
                            best.val_sensitivity_at_target_specificity
                                .unwrap_or(f64::NAN),
                            0,
                        ),
                    ],
                )?;
                tracker.set_tags(
                    &parent.run_id,
                    &[
                        ("best_trial".into(), best.trial.to_string()),
                        (
                            "best_run_id".into(),
                            best.run_id.clone().unwrap_or_default(),
                        ),
                    ],
                )?;
            }
            None => anyhow::bail!(
                "no trial finished with a finite validation score ({} failed, {} pruned, {} not \
                 started); see {}",
                count(&trials, TrialStatus::Failed),
                count(&trials, TrialStatus::Pruned),
                count(&trials, TrialStatus::NotStarted),
                home.path("tune/tune.json").display()
            ),
        }
        Ok(report)
    })();
    tracker.finish_run(&parent.run_id, RunStatus::of(&result))?;
    let report = result?;
    print_summary(&report);
    Ok(report)
}

fn count(trials: &[TrialResult], status: TrialStatus) -> usize {
    trials.iter().filter(|t| t.status == status).count()
}

/// The pipeline's split, prepared once per layout the trials use, in `tune/data-<layout>`.
fn prepare_layouts(
    home: &Home,
    csv: &Path,
    configs: &[TrialConfig],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let preprocess: preprocessing::PreprocessArgs = crate::from_env()?;
    let defaults = preprocessing::split_options(&preprocess)?;
    let mut dirs = BTreeMap::new();
    for config in configs {
        let name = config.layout_name();
        if dirs.contains_key(&name) {
            continue;
        }
        let dir = home.path(format!("tune/data-{name}"));
        let mut options = PrepareOptions::new(csv.to_owned(), dir.clone());
        options.split = SplitOptions {
            layout: InputLayout::new(config.timesteps, config.features)?,
            ..defaults
        };
        prepare(&options).with_context(|| format!("preprocessing for layout {name}"))?;
        dirs.insert(name, dir);
    }
    Ok(dirs)
}

/// What every trial shares.
struct Search<'a> {
    home: &'a Home,
    pipeline: &'a PipelineArgs,
    data: &'a BTreeMap<String, PathBuf>,
    tracker: &'a dyn Tracker,
    parent_run_id: &'a str,
    deadline: Instant,
    pruner: MedianPruner,
    reports: Reports,
    threads_per_trial: usize,
}

impl Search<'_> {
    /// Every trial, `parallel` at a time, in trial order in the result.
    fn run_all(&self, configs: &[TrialConfig], parallel: usize) -> Vec<TrialResult> {
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::with_capacity(configs.len()));
        std::thread::scope(|scope| {
            for _ in 0..parallel {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(config) = configs.get(index) else {
                        break;
                    };
                    let result = self.run_trial(index, config);
                    print_trial(&result);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(result);
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        results.sort_by_key(|r| r.trial);
        results
    }

    fn run_trial(&self, index: usize, config: &TrialConfig) -> TrialResult {
        let mut result = TrialResult {
            trial: index + 1,
            config: config.clone(),
            status: TrialStatus::NotStarted,
            run_id: None,
            epochs: 0,
            best_val_loss: None,
            val_roc_auc: None,
            val_sensitivity_at_target_specificity: None,
            seconds: 0.0,
            error: None,
        };
        if Instant::now() >= self.deadline {
            return result;
        }
        let started = Instant::now();
        if let Err(e) = self.train_and_score(index, config, &mut result) {
            result.status = TrialStatus::Failed;
            result.error = Some(format!("{e:#}"));
            tracing::warn!(trial = index + 1, "trial failed: {e:#}");
        }
        result.seconds = started.elapsed().as_secs_f64();
        result
    }

    fn train_and_score(
        &self,
        index: usize,
        config: &TrialConfig,
        result: &mut TrialResult,
    ) -> anyhow::Result<()> {
        let data = self.data[&config.layout_name()].clone();
        let out = self.home.path(format!("tune/trial-{}/models", index + 1));
        let args = training::TrainingArgs {
            front_end: config.front_end_arg(),
            lstm_hidden: config.lstm_hidden,
            dense_hidden: config.dense_hidden,
            dropout: config.dropout,
            learning_rate: config.learning_rate,
            batch_size: config.batch_size,
            windows: config.windows_arg(),
            augment_gain: config.augment_gain,
            // A trial is judged on its validation loss; its decisions are chosen when the
            // winner is trained by the pipeline.
            oof_folds: 0,
            threads: Some(self.threads_per_trial),
            dvc: DvcArgs {
                no_dvc: true,
                ..DvcArgs::default()
            },
            ..self
                .pipeline
                .training(self.home, data.clone(), out.clone())?
        };
        #[derive(Clone, Copy, PartialEq)]
        enum Stop {
            Pruned,
            Budget,
        }
        let stop = Cell::new(None);
        let outcome = training::train_model_with(&args, &|metrics| {
            if Instant::now() >= self.deadline {
                stop.set(Some(Stop::Budget));
                return ControlFlow::Break(());
            }
            if self.reports.report(&self.pruner, index, metrics.val_loss) {
                stop.set(Some(Stop::Pruned));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        result.run_id = Some(outcome.run_id.clone());
        result.epochs = outcome.history.len();
        result.best_val_loss = outcome
            .history
            .get(outcome.best_epoch.saturating_sub(1))
            .map(|m| m.val_loss);
        result.status = match stop.get() {
            Some(Stop::Pruned) => TrialStatus::Pruned,
            Some(Stop::Budget) => TrialStatus::StoppedAtBudget,
            None => TrialStatus::Completed,
        };
        let (roc, sensitivity) = validation_score(&out, &data)?;
        result.val_roc_auc = Some(roc);
        result.val_sensitivity_at_target_specificity = Some(sensitivity);

        let run_id = &outcome.run_id;
        let mut params = config.params();
        params.push(("tune_trial".into(), (index + 1).to_string()));
        self.tracker.log_params(run_id, &params)?;
        self.tracker.log_metrics(
            run_id,
            &[
                Metric::now("val_window_roc_auc", roc, 0),
                Metric::now(
                    "val_window_sensitivity_at_target_specificity",
                    sensitivity,
                    0,
                ),
            ],
        )?;
        self.tracker.set_tags(
            run_id,
            &[
                ("mlflow.parentRunId".into(), self.parent_run_id.to_owned()),
                ("tune_trial".into(), (index + 1).to_string()),
                (
                    "tune_status".into(),
                    serde_json::to_value(result.status)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            ],
        )?;
        Ok(())
    }
}

/// ROC AUC and sensitivity at specificity 0.98 of a trained model on the validation segments
/// cut at every quarter chunk.
fn validation_score(models: &Path, data: &Path) -> anyhow::Result<(f64, f64)> {
    let predictor = Predictor::load(models)?;
    let dataset = ProcessedDataset::open(data)?;
    let windows = OffsetWindows::cut(&dataset.signals(Split::Validation)?, QuarterOffsets::All);
    if windows.is_empty() {
        anyhow::bail!("{}: no validation signals to score", data.display());
    }
    let scores: Vec<f64> = predictor
        .predict(&windows.samples)
        .into_iter()
        .map(f64::from)
        .collect();
    Ok((
        roc_auc(&scores, &windows.labels),
        sensitivity_at_specificity(&scores, &windows.labels, TARGET_SPECIFICITY),
    ))
}

/// The eligible trial with the highest validation ROC AUC, then sensitivity, then the lowest
/// validation loss; the earlier trial on a full tie.
fn best_trial(trials: &[TrialResult]) -> Option<&TrialResult> {
    let key = |t: &TrialResult| {
        (
            t.val_roc_auc.unwrap_or(f64::NEG_INFINITY),
            t.val_sensitivity_at_target_specificity
                .filter(|s| s.is_finite())
                .unwrap_or(f64::NEG_INFINITY),
            -t.best_val_loss
                .filter(|l| l.is_finite())
                .unwrap_or(f64::INFINITY),
        )
    };
    trials
        .iter()
        .filter(|t| t.eligible())
        .fold(None, |best, t| match best {
            Some(b) if compare(key(t), key(b)).is_le() => Some(b),
            _ => Some(t),
        })
}

fn compare(a: (f64, f64, f64), b: (f64, f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
}

fn write_outputs(
    home: &Home,
    report: &TuneReport,
    best: Option<&TrialResult>,
) -> anyhow::Result<()> {
    let dir = home.path("tune");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = dir.join("tune.json");
    artifact_store::atomic::write_file(
        &json,
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write {}", json.display()))?;
    if let Some(best) = best {
        let yaml = dir.join("best-params.yaml");
        let text = format!(
            "# seizure-ops tune: trial {} of {} (run {}), sampler seed {}.\n# Validation only \
             (never test): ROC AUC {:.4} and sensitivity {:.4} at specificity {} on the\n# \
             validation segments cut at every quarter chunk; best validation loss {:.4}.\n# \
             Copy these keys into params.yaml (the other keys keep their values).\n{}",
            best.trial,
            report.trials.len(),
            best.run_id.as_deref().unwrap_or("-"),
            report.seed,
            best.val_roc_auc.unwrap_or(f64::NAN),
            best.val_sensitivity_at_target_specificity
                .unwrap_or(f64::NAN),
            TARGET_SPECIFICITY,
            best.best_val_loss.unwrap_or(f64::NAN),
            best.config.params_yaml()
        );
        artifact_store::atomic::write_file(&yaml, text.as_bytes())
            .with_context(|| format!("cannot write {}", yaml.display()))?;
    }
    Ok(())
}

fn status_name(status: TrialStatus) -> &'static str {
    match status {
        TrialStatus::Completed => "completed",
        TrialStatus::Pruned => "pruned",
        TrialStatus::StoppedAtBudget => "stopped at budget",
        TrialStatus::NotStarted => "not started (budget)",
        TrialStatus::Failed => "failed",
    }
}

fn describe(config: &TrialConfig) -> String {
    format!(
        "{} {} lstm {} dense {} dropout {} lr {} batch {} windows {} gain {}",
        config.layout_name(),
        config.front_end,
        config.lstm_hidden,
        config.dense_hidden,
        config.dropout,
        config.learning_rate,
        config.batch_size,
        config.windows,
        config.augment_gain
    )
}

fn print_trial(result: &TrialResult) {
    let score = match (
        result.val_roc_auc,
        result.val_sensitivity_at_target_specificity,
    ) {
        (Some(roc), Some(sens)) => format!("val roc_auc {roc:.4} sens@spec {sens:.4}"),
        _ => "no score".into(),
    };
    println!(
        "trial {:>3}: {:<20} {} epochs, {:.0} s, {score}  [{}]{}",
        result.trial,
        status_name(result.status),
        result.epochs,
        result.seconds,
        describe(&result.config),
        result
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
}

fn print_summary(report: &TuneReport) {
    println!(
        "\ntuning finished in {:.0} s: {} completed, {} pruned, {} stopped at the budget, {} \
         not started, {} failed",
        report.seconds,
        count(&report.trials, TrialStatus::Completed),
        count(&report.trials, TrialStatus::Pruned),
        count(&report.trials, TrialStatus::StoppedAtBudget),
        count(&report.trials, TrialStatus::NotStarted),
        count(&report.trials, TrialStatus::Failed),
    );
    if let Some(best) = report
        .best_trial
        .and_then(|n| report.trials.iter().find(|t| t.trial == n))
    {
        println!(
            "best: trial {} (validation roc_auc {:.4}, sensitivity {:.4} at specificity {}): {}",
            best.trial,
            best.val_roc_auc.unwrap_or(f64::NAN),
            best.val_sensitivity_at_target_specificity
                .unwrap_or(f64::NAN),
            TARGET_SPECIFICITY,
            describe(&best.config)
        );
        println!(
            "wrote tune/tune.json and tune/best-params.yaml (parent run {})",
            report.parent_run_id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(n: usize, status: TrialStatus, roc: f64, sens: f64, loss: f64) -> TrialResult {
        TrialResult {
            trial: n,
            config: TrialConfig::sample_many(1, 1).remove(0),
            status,
            run_id: Some(format!("run{n}")),
            epochs: 3,
            best_val_loss: Some(loss),
            val_roc_auc: Some(roc),
            val_sensitivity_at_target_specificity: Some(sens),
            seconds: 1.0,
            error: None,
        }
    }

    #[test]
    fn the_best_trial_is_by_roc_then_sensitivity_then_loss_among_eligible_ones() {
        let trials = vec![
            trial(1, TrialStatus::Completed, 0.990, 0.90, 0.2),
            trial(2, TrialStatus::Pruned, 0.999, 0.99, 0.1),
            trial(3, TrialStatus::Completed, 0.995, 0.92, 0.3),
            trial(4, TrialStatus::StoppedAtBudget, 0.995, 0.95, 0.4),
            trial(5, TrialStatus::Completed, 0.995, 0.95, 0.35),
            trial(6, TrialStatus::Failed, 1.0, 1.0, 0.0),
            trial(7, TrialStatus::Completed, f64::NAN, f64::NAN, f64::NAN),
        ];
        // 2 is pruned, 6 failed, 7 diverged; 4 and 5 tie on ROC and sensitivity, 5 has the
        // lower loss.
        assert_eq!(best_trial(&trials).unwrap().trial, 5);
        assert!(best_trial(&trials[5..]).is_none());
        // A full tie keeps the earlier trial.
        let tied = vec![
            trial(1, TrialStatus::Completed, 0.99, 0.9, 0.2),
            trial(2, TrialStatus::Completed, 0.99, 0.9, 0.2),
        ];
        assert_eq!(best_trial(&tied).unwrap().trial, 1);
    }
}
