//! Training with progress shown: a bar on a terminal, a log line per epoch otherwise.

use std::io::IsTerminal;
use std::ops::ControlFlow;

use eeg_data::processed::SplitArrays;
use indicatif::{ProgressBar, ProgressStyle};
use seizure_model::ModelCard;

use crate::train::{self, EpochMetrics, TrainConfig, TrainOutcome};
use crate::windows::TrainingWindows;

/// [`train::train`], showing its progress; `log_epoch` is called after every epoch.
pub(crate) fn train_with_progress(
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
