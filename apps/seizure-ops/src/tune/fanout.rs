//! `seizure-ops tune` apart ([`crate::fanout`]): one trial per process (a pod of the Kubernetes
//! Indexed Job `tune`, `deploy/k8s/base/pipeline/tune.yaml`), its result on its training run
//! (`tune/trial.json`, tags `tune_group`, `tune_member`); then the group gathered under one
//! parent run, the best trial chosen as in-process (`tune/tune.json`, `tune/best-params.yaml`).
//! A trial apart is never pruned: median pruning needs the other trials' curves as they go.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;

use super::parent_run;
use super::pruner::{MedianPruner, Reports};
use super::report::{objective, print_trial};
use super::selection::best_trial;
use super::space::TrialConfig;
use super::trial::{Search, TrialResult, TrialStatus};
use super::{conclude, layouts::prepare_layouts, TuneArgs, TuneReport};
use crate::fanout::{one_source, Fanout};
use crate::pipeline::{announce_tracking, tracking, PipelineArgs};
use crate::Home;

const TUNE: Fanout = Fanout {
    group_tag: "tune_group",
    index_tag: "tune_member",
    role_tag: "tune_role",
    artifact_dir: "tune",
    artifact_file: "trial.json",
    noun: "trial",
    command: "seizure-ops tune --trial",
};

/// A trial as its member published it: [`TrialResult`] whose configuration is checked against
/// the one the gatherer draws from the same seed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Published {
    trial: usize,
    config: serde_json::Value,
    status: TrialStatus,
    run_id: Option<String>,
    epochs: usize,
    best_val_loss: Option<f64>,
    val_roc_auc: Option<f64>,
    val_sensitivity_at_target_specificity: Option<f64>,
    seconds: f64,
    error: Option<String>,
}

/// Runs trial `trial` (0-based) of the configurations drawn from `--tune-seed` as a member of
/// `group`.
pub(super) fn run_member(
    home: &Home,
    pipeline: &PipelineArgs,
    args: &TuneArgs,
    trial: usize,
    group: &str,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    args.validate(cores)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.budget_minutes * 60.0);
    let Some((tracker, csv)) = TUNE.start_member(
        home,
        pipeline,
        args.fanout.source.as_deref(),
        group,
        (trial, args.trials),
    )?
    else {
        return Ok(());
    };
    let config = TrialConfig::sample_many(args.seed, args.trials).swap_remove(trial);
    let data = prepare_layouts(home, &csv, std::slice::from_ref(&config))?;
    println!(
        "\n==> trial {} of {} (group {group}) on {cores} thread(s)",
        trial + 1,
        args.trials
    );
    let search = Search {
        home,
        pipeline,
        data: &data,
        tracker: tracker.as_ref(),
        parent_run_id: None,
        deadline,
        // Never prunes: no other trial reports here.
        pruner: MedianPruner {
            warmup_epochs: args.prune_warmup,
            min_trials: usize::MAX,
        },
        reports: Reports::new(args.trials),
        threads_per_trial: cores,
    };
    let result = search.run_trial(trial, &config);
    print_trial(&result);
    // A trial that trained and failed is published as failed (never chosen, as in-process);
    // one that never got a run (its data could not be prepared, say) fails the pod, retried.
    let Some(run_id) = result.run_id.clone() else {
        bail!(
            "trial {} has no run ({:?}): {}",
            trial + 1,
            result.status,
            result.error.as_deref().unwrap_or("not started")
        );
    };
    TUNE.publish(
        tracker.as_ref(),
        &run_id,
        (trial, args.trials),
        group,
        &result,
        &home.path(format!("tune/trial-{}/result", trial + 1)),
    )?;
    println!("trial {} logged to run {run_id} (group {group})", trial + 1);
    Ok(())
}

/// Whether two configurations, as JSON, are the same: numbers within a relative 1e-12 (a
/// decimal round trip), everything else equal.
fn same_config(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_config(v, w)))
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
            _ => a == b,
        },
        _ => a == b,
    }
}

/// Collects `group`'s trials, chooses the best as the in-process search does, and records it
/// under the group's parent run.
pub(super) fn gather(home: &Home, args: &TuneArgs, group: &str) -> anyhow::Result<TuneReport> {
    args.validate(1)?;
    announce_tracking(home)?;
    let settings = tracking(home)?;
    let tracker = settings.open()?;
    let gathered = TUNE.gather::<Published>(
        tracker.as_ref(),
        &settings.experiment,
        group,
        args.trials,
        Duration::from_secs(args.fanout.wait_seconds),
    )?;
    let configs = TrialConfig::sample_many(args.seed, args.trials);
    let mut trials = Vec::with_capacity(configs.len());
    for ((run, published), config) in gathered.members.iter().zip(configs) {
        let drawn = serde_json::to_value(&config)?;
        if published.run_id.as_deref() != Some(run.run_id.as_str()) {
            bail!(
                "run {} is tagged trial {} but its tune/trial.json is of run {:?}",
                run.run_id,
                trials.len() + 1,
                published.run_id
            );
        }
        if published.trial != trials.len() + 1 || !same_config(&published.config, &drawn) {
            bail!(
                "run {} is trial {} with {}, but trial {} of --trials {} --tune-seed {} is {drawn}: \
                 gather with the members' settings",
                run.run_id,
                published.trial,
                published.config,
                trials.len() + 1,
                args.trials,
                args.seed
            );
        }
        trials.push(TrialResult {
            trial: published.trial,
            config,
            status: published.status,
            run_id: published.run_id.clone(),
            epochs: published.epochs,
            best_val_loss: published.best_val_loss,
            val_roc_auc: published.val_roc_auc,
            val_sensitivity_at_target_specificity: published.val_sensitivity_at_target_specificity,
            seconds: published.seconds,
            error: published.error.clone(),
        });
    }
    let source = one_source(
        tracker.as_ref(),
        group,
        gathered
            .members
            .iter()
            .map(|(run, published)| (published.trial, run.run_id.clone())),
    )?;
    let source = format!("md5:{source}");
    let tune_dir = home.path("tune");
    TUNE.conclude(
        tracker.as_ref(),
        &settings.experiment,
        group,
        gathered,
        (
            &format!("tune-{}-{group}", args.trials),
            &parent_run::params(args, args.trials, &source),
        ),
        (
            &[
                tune_dir.join("tune.json"),
                tune_dir.join("best-params.yaml"),
            ],
            &tune_dir.join("gathered"),
        ),
        |parent, _| {
            let report = TuneReport {
                parent_run_id: parent.to_owned(),
                source_csv: source.clone(),
                seed: args.seed,
                parallel: args.trials,
                budget_minutes: args.budget_minutes,
                objective: objective(),
                best_trial: best_trial(&trials).map(|t| t.trial),
                // Apart, the trials' own times added up (they ran side by side).
                seconds: trials.iter().map(|t| t.seconds).sum(),
                trials,
            };
            conclude(home, tracker.as_ref(), report)
        },
    )
}
