//! Work fanned out over processes and gathered through the tracker: `cv` folds and `tune`
//! trials, one per pod of a Kubernetes Indexed Job (`deploy/k8s/base/pipeline/`).
//!
//! A member needs no shared volume: its raw CSV can come from the DVC remote by md5
//! ([`fetch_source`]: preprocessing pushed it there; the production model's training run
//! recorded it as `source_md5`), and its result goes to the tracker on its own run: an
//! artifact, then, last, the tags naming its group and index, so a member the gatherer can
//! find is complete. A retried member adds a run; the gatherer waits for every index, takes
//! the newest finished run of each, and concludes under one parent run of the group (reused
//! when the gathering itself is retried).

mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracking::{RunSummary, Tracker};

use crate::pipeline::{announce_tracking, tracking, PipelineArgs};
use crate::Home;

pub use source::raw_csv;

/// The longest a gatherer may be told to wait: a week.
const MAX_WAIT_SECONDS: u64 = 7 * 24 * 3600;

/// How often a waiting gatherer looks again.
const POLL: Duration = Duration::from_secs(10);

/// The fan-out flags `cv` and `tune` share (the member's index is each command's own:
/// `--fold`, `--trial`).
#[derive(Debug, Clone, Default, Args)]
pub struct FanoutArgs {
    /// The fan-out group (on Kubernetes, the Job's uid): letters, digits, `._:-`. With a member
    /// index, run that member of the group; with `--gather`, collect the group.
    #[arg(long, env = "FANOUT_GROUP")]
    pub group: Option<String>,
    /// Collect the group's members from the tracker and conclude them under one parent run.
    #[arg(long, requires = "group")]
    pub gather: bool,
    /// With `--gather`: wait up to this long for members still missing (checked every 10 s).
    #[arg(long, default_value_t = 0, requires = "gather")]
    pub wait_seconds: u64,
    /// For a member: where the raw CSV comes from instead of the home: `production` (the
    /// `source_md5` the production model's training run recorded) or an md5, fetched from the
    /// DVC remote (`DVC_REMOTE_URL`), where preprocessing pushed it.
    #[arg(
        long,
        env = "FANOUT_SOURCE",
        requires = "group",
        conflicts_with = "gather"
    )]
    pub source: Option<String>,
}

impl FanoutArgs {
    /// The group, checked ([`tracking::check_search_value`]).
    pub fn group(&self) -> anyhow::Result<Option<&str>> {
        if let Some(group) = &self.group {
            tracking::check_search_value(group).context("--group / FANOUT_GROUP")?;
        }
        Ok(self.group.as_deref())
    }
}

/// One kind of fanned-out work: its tags, its artifact and its words.
pub struct Fanout {
    /// The tag naming a run's group (`cv_group`).
    pub group_tag: &'static str,
    /// `<index>/<count>`, 1-based, on a member's run (`cv_fold`).
    pub index_tag: &'static str,
    /// `parent` on the gathering's run (`cv_role`).
    pub role_tag: &'static str,
    /// The member's result, `<dir>/<file>` among its run's artifacts (`cv/fold.json`).
    pub artifact_dir: &'static str,
    pub artifact_file: &'static str,
    /// What a member is called (`fold`) and the flag that runs one (`--fold`).
    pub noun: &'static str,
    pub command: &'static str,
}

/// What a gathering found: every member's run and result, in index order, and the group's
/// parent run if an earlier gathering started one.
pub struct Gathered<T> {
    pub members: Vec<(RunSummary, T)>,
    pub parent: Option<String>,
}

impl Fanout {
    /// Logs `result` as the artifact of member `index` (0-based) of `count` in `group`, on
    /// `run_id`, then tags the run, last: from then on the gatherer finds it.
    pub fn publish(
        &self,
        tracker: &dyn Tracker,
        run_id: &str,
        (index, count): (usize, usize),
        group: &str,
        result: &impl Serialize,
        scratch: &Path,
    ) -> anyhow::Result<()> {
        fs_err::create_dir_all(scratch)?;
        let path = scratch.join(self.artifact_file);
        artifact_store::atomic::write_file(&path, &serde_json::to_vec_pretty(result)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracker.log_artifacts(run_id, scratch, self.artifact_dir)?;
        tracker.set_tags(
            run_id,
            &[
                (self.group_tag.into(), group.to_owned()),
                (self.index_tag.into(), format!("{}/{count}", index + 1)),
            ],
        )?;
        Ok(())
    }

    /// What every member does first: its index (0-based) checked against `count`, where its
    /// runs go said, the tracker opened. `None` when the member is already published in
    /// `group` (a retried pod: nothing to do, said so); else the tracker and the member's raw
    /// CSV (`--source`'s, else the home's).
    pub fn start_member(
        &self,
        home: &Home,
        pipeline: &PipelineArgs,
        source: Option<&str>,
        group: &str,
        (index, count): (usize, usize),
    ) -> anyhow::Result<Option<(Box<dyn Tracker>, PathBuf)>> {
        let noun = self.noun;
        if index >= count {
            bail!(
                "--{noun} {index} is not one of the {count} {noun}s (0 to {})",
                count - 1
            );
        }
        announce_tracking(home)?;
        let settings = tracking(home)?;
        let tracker = settings.open()?;
        if let Some(run_id) = self.published(
            tracker.as_ref(),
            &settings.experiment,
            group,
            (index, count),
        )? {
            println!(
                "{noun} {} of group {group} is already run {run_id}: nothing to do",
                index + 1
            );
            return Ok(None);
        }
        Ok(Some((tracker, raw_csv(home, pipeline, source)?)))
    }

    /// The run of member `index` (0-based) already published in `group`, if any: a retried
    /// pod whose member is done (its gathering failed, say) need not run it again.
    fn published(
        &self,
        tracker: &dyn Tracker,
        experiment: &str,
        group: &str,
        (index, count): (usize, usize),
    ) -> anyhow::Result<Option<String>> {
        let (found, _) = self.find(tracker, experiment, group, count)?;
        Ok(found.get(&(index + 1)).map(|run| run.run_id.clone()))
    }

    /// The newest published run of each member of `group` (1-based index -> run), and the
    /// group's parent run if one was started. A run counts once its tags are there (they are
    /// written last, after its result), whatever its status: a run whose tracker missed the
    /// final status update is no less complete.
    fn find(
        &self,
        tracker: &dyn Tracker,
        experiment: &str,
        group: &str,
        count: usize,
    ) -> anyhow::Result<(BTreeMap<usize, RunSummary>, Option<String>)> {
        let mut found = BTreeMap::new();
        let mut parent = None;
        // Oldest first: a later run of the same member (a retried pod) replaces an earlier one.
        for run in tracker.search_runs(experiment, self.group_tag, group)? {
            // The store's comparison may ignore case (MLflow on MySQL): checked here too.
            if run.tags.get(self.group_tag).map(String::as_str) != Some(group) {
                continue;
            }
            if run.tags.get(self.role_tag).map(String::as_str) == Some("parent") {
                // The first parent started wins, should two gatherings have raced.
                parent.get_or_insert(run.run_id);
                continue;
            }
            let Some(tag) = run.tags.get(self.index_tag) else {
                continue;
            };
            let parsed = tag
                .split_once('/')
                .and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
            match parsed {
                Some((k, n)) if n == count && (1..=n).contains(&k) => {
                    found.insert(k, run);
                }
                _ => bail!(
                    "run {} of group {group} is {} {tag:?}, not one of {count}: one group, one \
                     number of {}s",
                    run.run_id,
                    self.noun,
                    self.noun
                ),
            }
        }
        Ok((found, parent))
    }

    /// Every member of `group` (waiting up to `wait` for missing ones, then naming them) with
    /// its published result.
    pub fn gather<T: DeserializeOwned>(
        &self,
        tracker: &dyn Tracker,
        experiment: &str,
        group: &str,
        count: usize,
        wait: Duration,
    ) -> anyhow::Result<Gathered<T>> {
        let deadline = Instant::now() + wait.min(Duration::from_secs(MAX_WAIT_SECONDS));
        let (runs, parent) = loop {
            let now = Instant::now();
            let missing: Vec<usize> = match self.find(tracker, experiment, group, count) {
                Ok((runs, parent)) => {
                    let missing: Vec<usize> =
                        (1..=count).filter(|k| !runs.contains_key(k)).collect();
                    if missing.is_empty() {
                        break (runs, parent);
                    }
                    missing
                }
                // A tracker outage while waiting is waited out too.
                Err(e) if now < deadline => {
                    tracing::warn!(group, "cannot search the tracker (retrying): {e:#}");
                    std::thread::sleep(POLL.min(deadline - now));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if now >= deadline {
                bail!(
                    "group {group}: {}(s) {missing:?} of {count} are not finished in the {} \
                     tracker (experiment {experiment:?}); run them (`{} <n-1> --group {group}`) \
                     or wait longer (--wait-seconds)",
                    self.noun,
                    tracker.kind(),
                    self.command
                );
            }
            println!("group {group}: waiting for {}(s) {missing:?}", self.noun);
            std::thread::sleep(POLL.min(deadline - now));
        };
        let artifact = format!("{}/{}", self.artifact_dir, self.artifact_file);
        let mut members = Vec::with_capacity(runs.len());
        for (k, run) in runs {
            let bytes = tracker
                .read_artifact(&run.run_id, &artifact)
                .with_context(|| {
                    format!("{} {k}: run {} has no {artifact}", self.noun, run.run_id)
                })?;
            let result: T = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} {k}: {artifact} of run {}", self.noun, run.run_id))?;
            members.push((run, result));
        }
        Ok(Gathered { members, parent })
    }

    /// Concludes a gathered group under its parent run: an earlier gathering's, else a new
    /// run (tagged as the group's parent first, so a retry finds it, then given `params`).
    /// Every member is adopted (`mlflow.parentRunId`), `conclude` runs with the parent's id
    /// and the members' results, the `outputs` it wrote go to the parent's artifacts (a
    /// gathering pod's directory does not outlive it) and the parent ends with its outcome.
    #[allow(clippy::too_many_arguments)]
    pub fn conclude<T, R>(
        &self,
        tracker: &dyn Tracker,
        experiment: &str,
        group: &str,
        gathered: Gathered<T>,
        (name, params): (&str, &[(String, String)]),
        outputs: (&[std::path::PathBuf], &Path),
        conclude: impl FnOnce(&str, Vec<T>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let parent = match gathered.parent {
            Some(run_id) => run_id,
            None => {
                let run = tracker.create_run(experiment, name)?;
                tracker.set_tags(
                    &run.run_id,
                    &[
                        (self.role_tag.into(), "parent".into()),
                        (self.group_tag.into(), group.to_owned()),
                    ],
                )?;
                tracker.log_params(&run.run_id, params)?;
                run.run_id
            }
        };
        let result = (|| -> anyhow::Result<R> {
            let mut results = Vec::with_capacity(gathered.members.len());
            for (run, result) in gathered.members {
                tracker.set_tags(
                    &run.run_id,
                    &[("mlflow.parentRunId".into(), parent.clone())],
                )?;
                results.push(result);
            }
            let concluded = conclude(&parent, results)?;
            let (files, scratch) = outputs;
            fs_err::create_dir_all(scratch)?;
            for file in files.iter().filter(|f| f.is_file()) {
                if let Some(name) = file.file_name() {
                    fs_err::copy(file, scratch.join(name))?;
                }
            }
            tracker.log_artifacts(&parent, scratch, self.artifact_dir)?;
            Ok(concluded)
        })();
        tracker.finish_run(&parent, tracking::RunStatus::of(&result))?;
        result
    }
}

/// The raw CSV the members read: each run's `source_md5` param, which must be one and the
/// same (the members of one group read the same data).
pub fn one_source(
    tracker: &dyn Tracker,
    group: &str,
    runs: impl IntoIterator<Item = (usize, String)>,
) -> anyhow::Result<String> {
    let mut sources: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, run_id) in runs {
        let source = tracker
            .run_params(&run_id)?
            .remove("source_md5")
            .filter(|md5| artifact_store::dvc::is_md5(md5))
            .with_context(|| format!("run {run_id} (member {index}) recorded no source_md5"))?;
        sources.entry(source).or_default().push(index);
    }
    if sources.len() != 1 {
        bail!(
            "group {group}: the members read different raw data (source md5 -> members: \
             {sources:?})"
        );
    }
    Ok(sources.into_keys().next().unwrap_or_default())
}
