//! `seizure-ops cv` apart: one outer fold per process (a pod of the Kubernetes Indexed Job
//! `cv`, `deploy/k8s/base/pipeline/cv-job.yaml`), then the group gathered through the tracker.
//!
//! A member needs no shared volume: its raw CSV comes from the DVC remote by md5 (preprocessing
//! pushed it there; the production model's training run recorded it as `source_md5`), and its
//! results go to the tracker, on the fold's training run: `test_*` metrics, the artifact
//! `cv/fold.json`, and last the tags `cv_group` and `cv_fold` that make it findable, so a fold
//! that can be found is complete. A retried member adds a run; the gatherer takes the newest
//! finished run of each fold, checks that every fold read the same source, and summarises them
//! under one parent run (reused when the gathering itself is retried).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use eeg_data::processed::Fold;
use tracking::{RunStatus, RunSummary, Tracker, PRODUCTION_ALIAS};

use super::{conclude, interval_settings, print_fold, run_fold, CvArgs, CvReport, FoldResult};
use crate::pipeline::{announce_tracking, dvc, raw_csv, tracking, PipelineArgs};
use crate::Home;

/// The tag naming a run's fan-out group.
const GROUP_TAG: &str = "cv_group";
/// `<fold>/<folds>`, 1-based, on a fold's training run.
const FOLD_TAG: &str = "cv_fold";
/// `parent` on the gathering's run.
const ROLE_TAG: &str = "cv_role";
/// The fold's [`FoldResult`], among its training run's artifacts.
const FOLD_ARTIFACT: &str = "cv/fold.json";
/// How often a waiting gatherer looks again.
const POLL: Duration = Duration::from_secs(10);

/// Runs outer fold `fold` (0-based) as a member of `group`.
pub(super) fn run_member(
    home: &Home,
    pipeline: &PipelineArgs,
    args: &CvArgs,
    fold: usize,
    group: &str,
) -> anyhow::Result<FoldResult> {
    if fold >= args.folds {
        bail!(
            "--fold {fold} is not one of the {} folds (0 to {})",
            args.folds,
            args.folds - 1
        );
    }
    announce_tracking(home)?;
    let csv = match &args.source {
        Some(source) => fetch_source(home, source)?,
        None => raw_csv(home, pipeline)?,
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
    let dir = home.path(format!("cv/fold-{}/result", fold + 1));
    fs_err::create_dir_all(&dir)?;
    let path = dir.join("fold.json");
    artifact_store::atomic::write_file(&path, &serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let tracker = tracking(home)?.open()?;
    tracker.log_artifacts(&result.run_id, &dir, "cv")?;
    // Last: from here on the gatherer finds it.
    tracker.set_tags(
        &result.run_id,
        &[
            (GROUP_TAG.into(), group.to_owned()),
            (FOLD_TAG.into(), format!("{}/{}", fold + 1, args.folds)),
        ],
    )?;
    print_fold(&result);
    println!(
        "fold {} logged to run {} (group {group})",
        fold + 1,
        result.run_id
    );
    Ok(result)
}

/// The raw CSV named by `source` (`production` or an md5), fetched from the DVC remote into
/// `home/cv/source/<md5>.csv` (checked against its md5).
fn fetch_source(home: &Home, source: &str) -> anyhow::Result<PathBuf> {
    let md5 = if source == "production" {
        let model = crate::from_env::<evaluate::registry::RegistryArgs>()?.model_name;
        let tracker = tracking(home)?.open()?;
        let version = tracker.alias(&model, PRODUCTION_ALIAS)?.with_context(|| {
            format!(
                "--source production: the {} tracker has no production version of {model:?} \
                 (run the pipeline first, or name the raw CSV's md5)",
                tracker.kind()
            )
        })?;
        tracker
            .run_params(&version.run_id)?
            .remove("source_md5")
            .with_context(|| {
                format!(
                    "--source production: version {} of {model:?} (run {}) recorded no \
                     source_md5 (trained before it was recorded): name the raw CSV's md5",
                    version.version, version.run_id
                )
            })?
    } else {
        source.to_owned()
    };
    if !artifact_store::dvc::is_md5(&md5) {
        bail!("--source / CV_SOURCE {source:?} is neither `production` nor an md5");
    }
    let remote = dvc()?.remote;
    let bytes = remote
        .settings()
        .fetch_file(&md5)
        .with_context(|| format!("cannot fetch the raw CSV {md5} from the DVC remote"))?;
    let path = home.path(format!("cv/source/{md5}.csv"));
    fs_err::create_dir_all(home.path("cv/source"))?;
    artifact_store::atomic::write_file(&path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "raw data: {md5} ({} bytes) from the DVC remote {}",
        bytes.len(),
        remote.remote_url.as_deref().unwrap_or_default()
    );
    Ok(path)
}

/// The newest finished run of each fold of `group` (1-based fold -> run), and the group's
/// parent run if one was started.
fn find(
    tracker: &dyn Tracker,
    experiment: &str,
    group: &str,
    folds: usize,
) -> anyhow::Result<(BTreeMap<usize, RunSummary>, Option<RunSummary>)> {
    let mut found = BTreeMap::new();
    let mut parent = None;
    // Oldest first: a later run of the same fold (a retried pod) replaces an earlier one.
    for run in tracker.search_runs(experiment, GROUP_TAG, group)? {
        if run.tags.get(ROLE_TAG).map(String::as_str) == Some("parent") {
            parent = Some(run);
            continue;
        }
        if run.status != RunStatus::Finished.as_str() {
            continue;
        }
        let Some(tag) = run.tags.get(FOLD_TAG) else {
            continue;
        };
        let parsed = tag
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
        match parsed {
            Some((k, n)) if n == folds && (1..=n).contains(&k) => {
                found.insert(k, run);
            }
            _ => bail!(
                "run {} of group {group} is fold {tag:?}, not one of {folds}: \
                 one group, one number of folds",
                run.run_id
            ),
        }
    }
    Ok((found, parent))
}

/// Collects `group`'s folds (waiting up to `--wait-seconds` for missing ones) and concludes
/// them under the group's parent run.
pub(super) fn gather(home: &Home, args: &CvArgs, group: &str) -> anyhow::Result<CvReport> {
    announce_tracking(home)?;
    let settings = tracking(home)?;
    let tracker = settings.open()?;
    let deadline = Instant::now() + Duration::from_secs(args.wait_seconds);
    let (runs, parent) = loop {
        let (runs, parent) = find(tracker.as_ref(), &settings.experiment, group, args.folds)?;
        let missing: Vec<usize> = (1..=args.folds).filter(|k| !runs.contains_key(k)).collect();
        if missing.is_empty() {
            break (runs, parent);
        }
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "group {group}: fold(s) {missing:?} of {} are not finished in the {} tracker \
                 (experiment {:?}); run them (`seizure-ops cv --fold <n-1> --group {group}`) \
                 or wait longer (--wait-seconds)",
                args.folds,
                tracker.kind(),
                settings.experiment
            );
        }
        println!("group {group}: waiting for fold(s) {missing:?}");
        std::thread::sleep(POLL.min(deadline - now));
    };
    let mut fold_results = Vec::with_capacity(runs.len());
    let mut sources = BTreeMap::new();
    for (k, run) in &runs {
        let bytes = tracker
            .read_artifact(&run.run_id, FOLD_ARTIFACT)
            .with_context(|| format!("fold {k}: run {} has no {FOLD_ARTIFACT}", run.run_id))?;
        let result: FoldResult = serde_json::from_slice(&bytes)
            .with_context(|| format!("fold {k}: {FOLD_ARTIFACT} of run {}", run.run_id))?;
        if result.fold != *k || result.run_id != run.run_id {
            bail!(
                "run {} is tagged fold {k} but its {FOLD_ARTIFACT} is fold {} of run {}",
                run.run_id,
                result.fold,
                result.run_id
            );
        }
        let source = tracker
            .run_params(&run.run_id)?
            .remove("source_md5")
            .unwrap_or_default();
        sources.entry(source).or_insert_with(Vec::new).push(*k);
        fold_results.push(result);
    }
    if sources.len() != 1 {
        bail!(
            "group {group}: the folds read different raw data (source md5 -> folds: {sources:?})"
        );
    }
    let source = sources.into_keys().next().unwrap_or_default();
    let parent_run_id = match parent {
        Some(parent) => parent.run_id,
        None => {
            let run = tracker.create_run(
                &settings.experiment,
                &format!("cv-{}-fold-{group}", args.folds),
            )?;
            tracker.log_params(
                &run.run_id,
                &[
                    ("folds".into(), args.folds.to_string()),
                    ("source_md5".into(), source.clone()),
                    (GROUP_TAG.into(), group.to_owned()),
                ],
            )?;
            tracker.set_tags(
                &run.run_id,
                &[
                    (ROLE_TAG.into(), "parent".into()),
                    (GROUP_TAG.into(), group.to_owned()),
                ],
            )?;
            run.run_id
        }
    };
    let result = (|| -> anyhow::Result<CvReport> {
        for result in &fold_results {
            tracker.set_tags(
                &result.run_id,
                &[("mlflow.parentRunId".into(), parent_run_id.clone())],
            )?;
        }
        let report = conclude(
            home,
            tracker.as_ref(),
            &parent_run_id,
            format!("md5:{source}"),
            fold_results,
        )?;
        // The report with the parent run too: a gathering pod's directory does not outlive it.
        let dir = home.path("cv/gathered");
        fs_err::create_dir_all(&dir)?;
        fs_err::copy(home.path("cv/cv.json"), dir.join("cv.json"))?;
        tracker.log_artifacts(&parent_run_id, &dir, "cv")?;
        Ok(report)
    })();
    tracker.finish_run(&parent_run_id, RunStatus::of(&result))?;
    result
}
