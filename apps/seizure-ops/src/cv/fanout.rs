//! `seizure-ops cv` apart ([`crate::fanout`]): one outer fold per process (a pod of the
//! Kubernetes Indexed Job `cv`, `deploy/k8s/base/pipeline/cv.yaml`), its result on its
//! training run (`test_*` metrics, `cv/fold.json`, tags `cv_group`, `cv_fold`); then the group
//! gathered, the same raw data checked, under one parent run with the folds' summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use eeg_data::processed::Fold;

use super::{conclude, interval_settings, print_fold, run_fold, CvArgs, CvReport, FoldResult};
use crate::fanout::{one_source, Fanout};
use crate::pipeline::{announce_tracking, tracking, PipelineArgs};
use crate::Home;

pub(super) const CV: Fanout = Fanout {
    group_tag: "cv_group",
    index_tag: "cv_fold",
    role_tag: "cv_role",
    artifact_dir: "cv",
    artifact_file: "fold.json",
    noun: "fold",
    command: "seizure-ops cv --fold",
};

/// Runs outer fold `fold` (0-based) as a member of `group`.
pub(super) fn run_member(
    home: &Home,
    pipeline: &PipelineArgs,
    args: &CvArgs,
    fold: usize,
    group: &str,
) -> anyhow::Result<()> {
    let Some((tracker, csv)) = CV.start_member(
        home,
        pipeline,
        args.fanout.source.as_deref(),
        group,
        (fold, args.folds),
    )?
    else {
        return Ok(());
    };
    let settings = interval_settings()?;
    // Alone in its process (its pod): the whole thread budget.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let recipe = pipeline.training(home, PathBuf::new(), PathBuf::new())?;
    let threads = recipe.threads.unwrap_or(cores).max(1);
    println!(
        "\n==> fold {} of {} (group {group}) on {threads} thread(s)",
        fold + 1,
        args.folds
    );
    let result = run_fold(
        home,
        pipeline,
        &csv,
        Fold {
            index: fold,
            count: args.folds,
        },
        threads,
        &settings,
        None,
    )?;
    CV.publish(
        tracker.as_ref(),
        &result.run_id,
        (fold, args.folds),
        group,
        &result,
        &home.path(format!("cv/fold-{}/result", fold + 1)),
    )?;
    print_fold(&result);
    println!(
        "fold {} logged to run {} (group {group})",
        fold + 1,
        result.run_id
    );
    Ok(())
}

/// Collects `group`'s folds and concludes them under the group's parent run.
pub(super) fn gather(home: &Home, args: &CvArgs, group: &str) -> anyhow::Result<CvReport> {
    announce_tracking(home)?;
    let settings = tracking(home)?;
    let tracker = settings.open()?;
    let gathered = CV.gather::<FoldResult>(
        tracker.as_ref(),
        &settings.experiment,
        group,
        args.folds,
        Duration::from_secs(args.fanout.wait_seconds),
    )?;
    for (k, (run, result)) in (1..).zip(&gathered.members) {
        if result.fold != k || result.run_id != run.run_id {
            bail!(
                "run {} is tagged fold {k} but its cv/fold.json is fold {} of run {}",
                run.run_id,
                result.fold,
                result.run_id
            );
        }
    }
    let source = one_source(
        tracker.as_ref(),
        group,
        gathered
            .members
            .iter()
            .map(|(run, result)| (result.fold, run.run_id.clone())),
    )?;
    let cv_json = home.path("cv/cv.json");
    CV.conclude(
        tracker.as_ref(),
        &settings.experiment,
        group,
        gathered,
        (
            &format!("cv-{}-fold-{group}", args.folds),
            &[
                ("folds".into(), args.folds.to_string()),
                ("source_md5".into(), source.clone()),
            ],
        ),
        (std::slice::from_ref(&cv_json), &home.path("cv/gathered")),
        |parent, fold_results| {
            conclude(
                home,
                tracker.as_ref(),
                parent,
                format!("md5:{source}"),
                fold_results,
            )
        },
    )
}
