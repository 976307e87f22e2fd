//! The trials: what one gives ([`TrialResult`]), and how they are run, each a training run
//! under the pruner and the time budget, scored on the validation split and recorded as a
//! child of the tuning run.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use eeg_data::offsets::{QuarterOffsets, Windows as OffsetWindows};
use eeg_data::processed::{ProcessedDataset, Split};
use evaluate::metrics::{roc_auc, sensitivity_at_specificity};
use seizure_model::Predictor;
use serde::{Deserialize, Serialize};
use service_flags::DvcArgs;
use tracking::{Metric, Tracker};

use super::pruner::{MedianPruner, Reports};
use super::space::TrialConfig;
use super::TARGET_SPECIFICITY;
use crate::pipeline::PipelineArgs;
use crate::Home;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub(super) fn eligible(&self) -> bool {
        matches!(
            self.status,
            TrialStatus::Completed | TrialStatus::StoppedAtBudget
        ) && self.val_roc_auc.is_some_and(f64::is_finite)
    }
}

/// What every trial shares.
pub(super) struct Search<'a> {
    pub(super) home: &'a Home,
    pub(super) pipeline: &'a PipelineArgs,
    pub(super) data: &'a BTreeMap<String, PathBuf>,
    pub(super) tracker: &'a dyn Tracker,
    /// The tuning's run; `None` for a trial run apart (the gathering adopts it).
    pub(super) parent_run_id: Option<&'a str>,
    pub(super) deadline: Instant,
    pub(super) pruner: MedianPruner,
    pub(super) reports: Reports,
    pub(super) threads_per_trial: usize,
}

impl Search<'_> {
    /// Every trial, `parallel` at a time, in trial order in the result; `on_done` is called
    /// with each as it ends.
    pub(super) fn run_all(
        &self,
        configs: &[TrialConfig],
        parallel: usize,
        on_done: impl Fn(&TrialResult) + Sync,
    ) -> Vec<TrialResult> {
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
                    on_done(&result);
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

    /// Trial `index` (0-based): trained, scored and recorded; never panics on its failure.
    pub(super) fn run_trial(&self, index: usize, config: &TrialConfig) -> TrialResult {
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
        let outcome = training::train_model_with(&args.settings()?, &|metrics| {
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
        let mut tags = vec![
            ("tune_trial".to_owned(), (index + 1).to_string()),
            (
                "tune_status".into(),
                serde_json::to_value(result.status)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ];
        if let Some(parent) = self.parent_run_id {
            tags.push(("mlflow.parentRunId".into(), parent.to_owned()));
        }
        self.tracker.set_tags(run_id, &tags)?;
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
