//! training: the seizure LSTM, trained in burn on the processed dataset.
//!
//! Loads the preprocessing outputs (manifest checked), trains with Adam and early stopping,
//! writes the best weights as a model artifact under `--out` (atomically, with `<out>.dvc`),
//! and records the run (params, per-epoch metrics, the artifact) in the tracker: MLflow when
//! `MLFLOW_TRACKING_URI` is set, the local store otherwise.
//!
//! [`train_model_with`] is the run, step by step; each step lives in a module of its own:
//! [`config`] (the command line), `inputs` (the dataset), [`train`] (the burn training loop,
//! shown by `progress`), `card` (the model card's provenance and metrics), `decide`
//! (temperature, threshold, out-of-fold decisions), `publish` (the drift profile and the
//! artifact), `tracking_log` (what the tracker records) and `report` (what is printed).

mod card;
pub mod config;
mod decide;
pub mod engine;
mod inputs;
pub mod logged_model;
pub mod native;
pub mod oof;
mod outcome;
pub mod profile;
mod progress;
mod publish;
mod report;
pub mod settings;
pub mod shards;
mod tracking_log;
pub mod train;
pub mod windows;

use std::ops::ControlFlow;
use std::time::Instant;

pub use crate::config::{Cli, FrontEndArg, TrainingArgs};
pub use crate::outcome::TrainingOutcome;
pub use crate::report::decisions_summary;
pub use crate::settings::TrainingSettings;
pub use crate::tracking_log::ARTIFACT_PATH;

use crate::inputs::Inputs;
use crate::tracking_log::RunLog;
use crate::train::EpochMetrics;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let outcome = train_model(&cli.args.settings()?)?;
    report::print(&outcome, &cli.args.out);
    Ok(())
}

pub fn train_model(settings: &TrainingSettings) -> anyhow::Result<TrainingOutcome> {
    train_model_with(settings, &|_| ControlFlow::Continue(()))
}

/// [`train_model`], with `on_epoch` called after every epoch: `ControlFlow::Break` stops the
/// run there (the best epoch so far is kept, and the run is tagged `pruned`).
#[tracing::instrument(name = "training", skip_all, fields(out = %args.out.display(), seed = args.seed))]
pub fn train_model_with(
    args: &TrainingSettings,
    on_epoch: &dyn Fn(&EpochMetrics) -> ControlFlow<()>,
) -> anyhow::Result<TrainingOutcome> {
    let inputs = Inputs::load(args)?;
    let windows = inputs.training_windows(args)?;
    let manifest = &inputs.dataset.manifest;
    let config = args.train_config(manifest)?;
    let mut card = card::new(&config, manifest, &inputs.data_md5);

    let tracker = args.tracking.open()?;
    let log = RunLog::start(&*tracker, args, &inputs.train_split, &inputs.validation)?;
    card.run_id = Some(log.run_id.clone());
    let result = (|| -> anyhow::Result<TrainingOutcome> {
        log.params(&tracking_log::params(
            &config,
            args,
            &inputs.train_split,
            &inputs.validation,
            &inputs.data_md5,
            manifest,
        ))?;
        let outcome = progress::train_with_progress(
            &windows,
            &inputs.validation,
            &config,
            &card,
            |metrics| {
                log.epoch(metrics);
                on_epoch(metrics)
            },
        );
        card::fill_metrics(&mut card, &outcome);
        if args.decisions.temperature_scaling {
            card.temperature_scaling = decide::fit_temperature(&card, &outcome, &inputs.validation);
            log.temperature(card.temperature_scaling.as_ref())?;
        }
        // After any temperature scaling: the threshold applies to the served probabilities.
        card.decision_threshold = decide::choose_threshold(
            &card,
            &outcome,
            &inputs.validation,
            inputs.threshold_windows.as_ref(),
            args.decisions.window_specificity.into_inner(),
        );
        log.threshold(card.decision_threshold.as_ref())?;
        let mut fold_models = Vec::new();
        if let (Some(folds), Some(_)) = (args.decisions.oof_folds, &card.decision_threshold) {
            let started = Instant::now();
            let oof = decide::out_of_fold(
                folds,
                args,
                &inputs.dataset,
                &inputs.train_split,
                &inputs.validation,
                &config,
                &card,
            )?;
            card.decisions = oof.decisions;
            fold_models = oof.models;
            log.decisions(card.decisions.as_ref(), started.elapsed())?;
        }
        let profile = publish::drift_profile(&inputs, &card, &outcome.network, &args.drift);
        let saved = publish::write_artifact(&args.out, &card, &outcome.network, profile.as_ref())?;
        log.model(&args.out, &saved, &inputs.data_md5, outcome.pruned)?;
        let pointer = args.dvc.track(&args.out)?;
        Ok(TrainingOutcome {
            card: saved,
            run_id: log.run_id.clone(),
            tracker_kind: tracker.kind(),
            tracker_location: tracker.location(),
            history: outcome.history,
            best_epoch: outcome.best_epoch,
            stopped_early: outcome.stopped_early,
            pruned: outcome.pruned,
            pointer,
            fold_models,
        })
    })();
    log.finish(&result);
    result
}
