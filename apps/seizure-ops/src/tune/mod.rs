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

mod args;
mod fanout;
mod layouts;
mod parent_run;
mod pruner;
mod report;
mod selection;
pub mod space;
mod trial;

use std::time::{Duration, Instant};

use anyhow::Context;
use tracking::RunStatus;

pub use args::TuneArgs;
pub use report::TuneReport;
pub use trial::{TrialResult, TrialStatus};

use crate::pipeline::{announce_tracking, raw_csv, tracking, PipelineArgs};
use crate::Home;
use layouts::prepare_layouts;
use pruner::{MedianPruner, Reports};
use report::{count, objective, print_summary, write_outputs};
use selection::best_trial;
use space::TrialConfig;
use trial::Search;

/// The specificity at which the tie-breaking sensitivity is read (the evaluation's target).
const TARGET_SPECIFICITY: f64 = seizure_model::threshold::DEFAULT_TARGET_SPECIFICITY;

/// `seizure-ops tune`: every trial here, one trial of a group (`--trial`), or a group
/// gathered (`--gather`).
pub fn run(home: &Home, pipeline: &PipelineArgs, args: &TuneArgs) -> anyhow::Result<()> {
    match (args.trial, args.fanout.group()?) {
        (Some(trial), Some(group)) => fanout::run_member(home, pipeline, args, trial, group),
        (None, Some(group)) if args.fanout.gather => {
            let report = fanout::gather(home, args, group)?;
            print_summary(&report);
            Ok(())
        }
        (None, Some(_)) => anyhow::bail!("--group needs --trial N or --gather"),
        (_, None) => run_tune(home, pipeline, args).map(drop),
    }
}

pub fn run_tune(
    home: &Home,
    pipeline: &PipelineArgs,
    args: &TuneArgs,
) -> anyhow::Result<TuneReport> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let parallel = args.validate(cores)?;
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
            &parent_run::params(args, parallel, &csv.display().to_string()),
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
            parent_run_id: Some(&parent.run_id),
            deadline,
            pruner: MedianPruner {
                warmup_epochs: args.prune_warmup,
                min_trials: 2,
            },
            reports: Reports::new(args.trials),
            // The cores left to each trial for its gradient shards.
            threads_per_trial: (cores / parallel).max(1),
        };
        let trials = search.run_all(&configs, parallel, report::print_trial);
        let report = TuneReport {
            parent_run_id: parent.run_id.clone(),
            source_csv: csv.display().to_string(),
            seed: args.seed,
            parallel,
            budget_minutes: args.budget_minutes,
            objective: objective(),
            best_trial: best_trial(&trials).map(|t| t.trial),
            trials,
            seconds: started.elapsed().as_secs_f64(),
        };
        conclude(home, tracker.as_ref(), report)
    })();
    tracker.finish_run(&parent.run_id, RunStatus::of(&result))?;
    let report = result?;
    print_summary(&report);
    Ok(report)
}

/// Writes the tuning's outputs and records the best trial on its parent run; an error when no
/// trial finished with a finite score.
fn conclude(
    home: &Home,
    tracker: &dyn tracking::Tracker,
    report: TuneReport,
) -> anyhow::Result<TuneReport> {
    let best = report
        .best_trial
        .and_then(|n| report.trials.iter().find(|t| t.trial == n));
    write_outputs(home, &report, best)?;
    match best {
        Some(best) => parent_run::log_best(tracker, &report.parent_run_id, best)?,
        None => anyhow::bail!(
            "no trial finished with a finite validation score ({} failed, {} pruned, {} not \
             started); see {}",
            count(&report.trials, TrialStatus::Failed),
            count(&report.trials, TrialStatus::Pruned),
            count(&report.trials, TrialStatus::NotStarted),
            home.path("tune/tune.json").display()
        ),
    }
    Ok(report)
}
