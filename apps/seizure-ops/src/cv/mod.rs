//! `seizure-ops cv`: k-fold cross-validation of the training recipe.
//!
//! The segments are dealt into `--folds` class-stratified folds
//! ([`eeg_data::split::assign_fold`]); for each fold, preprocessing makes that fold the test
//! split (the other segments are train, validation and patient pool in the pipeline's
//! proportions), training runs with the pipeline's settings, and the fold's test split is
//! scored exactly as `evaluate` scores a candidate (at the decisions training chose, with 95%
//! intervals). Training chooses them out of fold inside the fold's own training and validation
//! segments (nested: the fold's test split never informs them). Nothing is promoted. Each fold's training
//! run is tracked under one parent run (`mlflow.parentRunId`), which gets the mean and
//! standard deviation of every figure; `cv/cv.json` has it all.
//!
//! The folds can also run apart ([`fanout`]): `--fold I --group G` runs outer fold `I` alone
//! (a pod of the Kubernetes Indexed Job, its raw data fetched from the DVC remote by md5), and
//! `--gather --group G` collects the group's folds from the tracker into the same report.

mod fanout;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use eeg_data::prepare::{prepare, PrepareOptions, SplitOptions};
use eeg_data::processed::{Fold, ProcessedDataset};
use evaluate::scoring::{self, IntervalSettings, TestSet};
use seizure_model::Predictor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service_flags::DvcArgs;
use tracking::{Metric, RunStatus};

use crate::fanout::FanoutArgs;
use crate::pipeline::{announce_tracking, raw_csv, tracking, PipelineArgs};
use crate::Home;

#[derive(Debug, Clone, Args)]
pub struct CvArgs {
    /// Number of folds (each segment is tested exactly once).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Run only this outer fold (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`), as a member
    /// of `--group` ([`crate::fanout`]); `--gather` collects the group.
    #[arg(long, requires = "group", conflicts_with = "gather")]
    pub fold: Option<usize>,
    #[command(flatten)]
    pub fanout: FanoutArgs,
}

/// One figure over the folds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The figure's name; `ensemble_<name>` for the candidate ensemble's.
    pub metric: String,
    pub per_fold: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (n - 1).
    pub sd: f64,
}

/// One outer fold: its training run and evaluate's report of its test split (as JSON: the
/// same whether the fold ran here or was gathered from the tracker).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    /// 1-based.
    pub fold: usize,
    pub run_id: String,
    pub evaluation: Value,
    /// The candidate: the mean probability of the fold's out-of-fold models (those its
    /// decisions were chosen with), scored on the same test split at the served model's
    /// decisions. Absent without out-of-fold decisions, and in folds published before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<Ensemble>,
}

/// The ensemble candidate of one outer fold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ensemble {
    pub models: usize,
    /// Seconds to score the test split: the served model, then the ensemble (its serving cost).
    pub served_seconds: f64,
    pub ensemble_seconds: f64,
    pub evaluation: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub source_csv: String,
    pub parent_run_id: String,
    pub summary: Vec<Summary>,
    pub fold_results: Vec<FoldResult>,
}

/// The figures summarised over folds: name and where evaluate's report holds it.
const FIGURES: [(&str, &str); 8] = [
    ("roc_auc", "/recordings/roc_auc"),
    ("pr_auc", "/recordings/pr_auc"),
    (
        "sensitivity_at_target_specificity",
        "/sensitivity_at_target_specificity",
    ),
    ("accuracy", "/recordings/accuracy"),
    ("specificity", "/recordings/specificity"),
    ("patient_accuracy", "/patients/accuracy"),
    ("brier", "/calibration/brier"),
    (
        "expected_calibration_error",
        "/calibration/expected_calibration_error",
    ),
];

/// A number of evaluate's report (NaN where it is null: JSON has no NaN).
fn number(evaluation: &Value, pointer: &str) -> f64 {
    evaluation
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn figures(evaluation: &Value) -> [(&'static str, f64); 8] {
    FIGURES.map(|(name, pointer)| (name, number(evaluation, pointer)))
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    (mean, sd)
}

/// The mean and sd of every figure over the folds: the served model's, then (where every
/// fold has it) the ensemble candidate's as `ensemble_<figure>`.
pub fn summarise(results: &[FoldResult]) -> Vec<Summary> {
    let over = |prefix: &str, evaluation: &dyn Fn(&FoldResult) -> &Value| {
        (0..FIGURES.len())
            .map(|i| {
                let per_fold: Vec<f64> = results
                    .iter()
                    .map(|r| figures(evaluation(r))[i].1)
                    .collect();
                let (mean, sd) = mean_sd(&per_fold);
                Summary {
                    metric: format!("{prefix}{}", FIGURES[i].0),
                    per_fold,
                    mean,
                    sd,
                }
            })
            .collect::<Vec<_>>()
    };
    let mut summary = over("", &|r| &r.evaluation);
    let with_ensemble = results.iter().filter(|r| r.ensemble.is_some()).count();
    if with_ensemble > 0 && with_ensemble == results.len() {
        summary.extend(over("ensemble_", &|r| {
            &r.ensemble.as_ref().expect("checked above").evaluation
        }));
    } else if with_ensemble > 0 {
        tracing::warn!(
            with_ensemble,
            folds = results.len(),
            "the ensemble candidate is left out of the summary: not every fold scored it"
        );
    }
    summary
}

/// `seizure-ops cv`: every fold here, one fold of a group (`--fold`), or a group gathered
/// (`--gather`).
pub fn run(home: &Home, pipeline: &PipelineArgs, args: &CvArgs) -> anyhow::Result<()> {
    if !(2..=20).contains(&args.folds) {
        anyhow::bail!("--folds must be between 2 and 20");
    }
    match (args.fold, args.fanout.group()?) {
        (Some(fold), Some(group)) => fanout::run_member(home, pipeline, args, fold, group),
        (None, Some(group)) if args.fanout.gather => {
            let report = fanout::gather(home, args, group)?;
            print_summary(&report);
            Ok(())
        }
        (None, Some(_)) => anyhow::bail!("--group needs --fold N or --gather"),
        (_, None) => run_cv(home, pipeline, args).map(drop),
    }
}

/// The folds' intervals: evaluate's (confidence, draws, seed, target), from its environment
/// variables as the stage's own binary reads them.
fn interval_settings() -> anyhow::Result<IntervalSettings> {
    let policy = service_flags::from_env::<evaluate::PromotionFlags>()?.policy();
    policy.check()?;
    Ok(policy.interval_settings())
}

/// Writes `cv/cv.json` atomically; its path.
fn write_report(home: &Home, report: &CvReport) -> anyhow::Result<PathBuf> {
    let path = home.path("cv/cv.json");
    fs_err::create_dir_all(home.path("cv"))?;
    artifact_store::atomic::write_file(
        &path,
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Every fold in this process.
pub fn run_cv(home: &Home, pipeline: &PipelineArgs, args: &CvArgs) -> anyhow::Result<CvReport> {
    let csv = raw_csv(home, pipeline)?;
    let settings = interval_settings()?;
    announce_tracking(home)?;
    let tracking_args = tracking(home)?;
    let tracker = tracking_args.open()?;
    let parent = tracker
        .create_run(
            &tracking_args.experiment,
            &format!("cv-{}-fold", args.folds),
        )
        .with_context(|| format!("cannot start a run in the {} tracker", tracker.kind()))?;
    let result = (|| -> anyhow::Result<CvReport> {
        tracker.log_params(
            &parent.run_id,
            &[
                ("folds".into(), args.folds.to_string()),
                ("source_csv".into(), csv.display().to_string()),
                (
                    "epochs".into(),
                    pipeline
                        .training(home, PathBuf::new(), PathBuf::new())?
                        .epochs
                        .to_string(),
                ),
            ],
        )?;
        // The folds share the thread budget (`TRAIN_THREADS`, else the cores): as many run at
        // once as it allows, each training on its share; a fold's figures depend on its data
        // and seed only, never on the threads, so they are the same however many run at once.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let recipe = pipeline.training(home, PathBuf::new(), PathBuf::new())?;
        let budget = recipe.threads.unwrap_or(cores).max(1);
        // The burn engine on one shard draws its dropout from burn's process-wide generator
        // while it trains: two such trainings at once would draw from each other's stream.
        let shared_generator =
            recipe.engine == training::engine::Engine::Burn && recipe.grad_shards == 1;
        let lanes = if shared_generator {
            1
        } else {
            budget.min(args.folds)
        };
        let threads = (budget / lanes).max(1);
        println!(
            "\n==> {} folds, {lanes} at a time on {threads} thread(s) each",
            args.folds
        );
        let runs = training::shards::run_in_lanes((0..args.folds).collect(), lanes, |index| {
            let result = run_fold(
                home,
                pipeline,
                &csv,
                Fold {
                    index,
                    count: args.folds,
                },
                threads,
                &settings,
                Some(&parent.run_id),
            );
            // Each fold as it ends (the lanes end in no fixed order; each line names its fold).
            if let Ok(result) = &result {
                print_fold(result);
            }
            result
        });
        let fold_results = runs.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        conclude(
            home,
            tracker.as_ref(),
            &parent.run_id,
            csv.display().to_string(),
            fold_results,
        )
    })();
    tracker.finish_run(&parent.run_id, RunStatus::of(&result))?;
    let report = result?;
    print_summary(&report);
    Ok(report)
}

/// The parent run's summary (the mean and sd of every figure over `fold_results`, logged as
/// `cv_<figure>_mean` / `_sd`) and `cv/cv.json`.
fn conclude(
    home: &Home,
    tracker: &dyn tracking::Tracker,
    parent_run_id: &str,
    source_csv: String,
    fold_results: Vec<FoldResult>,
) -> anyhow::Result<CvReport> {
    let summary = summarise(&fold_results);
    let metrics: Vec<Metric> = summary
        .iter()
        .flat_map(|s| {
            [
                Metric::now(&format!("cv_{}_mean", s.metric), s.mean, 0),
                Metric::now(&format!("cv_{}_sd", s.metric), s.sd, 0),
            ]
        })
        .collect();
    tracker.log_metrics(parent_run_id, &metrics)?;
    let report = CvReport {
        folds: fold_results.len(),
        source_csv,
        parent_run_id: parent_run_id.to_owned(),
        summary,
        fold_results,
    };
    write_report(home, &report)?;
    Ok(report)
}

/// Outer fold `fold` on `csv` in `home/cv/fold-<n>`: preprocessing, training (tracked; a child
/// of `parent_run_id` when given), and evaluate's scoring of its test split, logged to its run
/// as `test_*` metrics.
fn run_fold(
    home: &Home,
    pipeline: &PipelineArgs,
    csv: &std::path::Path,
    fold: Fold,
    threads: usize,
    settings: &IntervalSettings,
    parent_run_id: Option<&str>,
) -> anyhow::Result<FoldResult> {
    let dir: PathBuf = home.path(format!("cv/fold-{}", fold.index + 1));
    let no_dvc = DvcArgs {
        no_dvc: true,
        ..DvcArgs::default()
    };
    let preprocess: preprocessing::PreprocessArgs = service_flags::from_env()?;
    let mut options = PrepareOptions::new(csv.to_owned(), dir.join("data"));
    options.split = SplitOptions {
        fold: Some(fold),
        ..preprocessing::split_options(&preprocess)?
    };
    prepare(&options).with_context(|| format!("fold {}: preprocessing", fold.index + 1))?;
    let training = training::train_model(
        &training::TrainingArgs {
            dvc: no_dvc,
            threads: Some(threads),
            ..pipeline.training(home, dir.join("data"), dir.join("models"))?
        }
        .settings()?,
    )
    .with_context(|| format!("fold {}: training", fold.index + 1))?;
    let tracker = tracking(home)?.open()?;
    let predictor = Predictor::load(&dir.join("models"))?;
    let dataset = ProcessedDataset::open(&dir.join("data"))?;
    let test = TestSet::load(&dataset)?;
    let started = std::time::Instant::now();
    let scores = scoring::scores(&predictor, &test);
    let served_seconds = started.elapsed().as_secs_f64();
    let evaluation = serde_json::to_value(scoring::evaluate(
        &predictor, &scores, &test, None, None, settings,
    ))?;
    let ensemble = ensemble(&predictor, &training.fold_models, &test, settings)?.map(
        |(ensemble_seconds, evaluation)| Ensemble {
            models: training.fold_models.len(),
            served_seconds,
            ensemble_seconds,
            evaluation,
        },
    );
    let mut tags = vec![(
        fanout::CV.index_tag.to_owned(),
        format!("{}/{}", fold.index + 1, fold.count),
    )];
    if let Some(parent) = parent_run_id {
        tags.push(("mlflow.parentRunId".into(), parent.to_owned()));
    }
    tracker.set_tags(&training.run_id, &tags)?;
    let mut metrics: Vec<Metric> = figures(&evaluation)
        .into_iter()
        .map(|(name, value)| Metric::now(&format!("test_{name}"), value, 0))
        .collect();
    if let Some(ensemble) = &ensemble {
        metrics.extend(
            figures(&ensemble.evaluation)
                .into_iter()
                .map(|(name, value)| Metric::now(&format!("ensemble_test_{name}"), value, 0)),
        );
    }
    tracker.log_metrics(&training.run_id, &metrics)?;
    Ok(FoldResult {
        fold: fold.index + 1,
        run_id: training.run_id,
        evaluation,
        ensemble,
    })
}

/// The candidate ensemble of `models` on `test`: the mean of their probabilities, evaluated
/// at `served`'s decisions (chosen out of fold with these very models); the seconds its
/// scoring took, and evaluate's report. None without models.
fn ensemble(
    served: &Predictor,
    models: &[std::sync::Arc<Predictor>],
    test: &TestSet,
    settings: &IntervalSettings,
) -> anyhow::Result<Option<(f64, Value)>> {
    if models.is_empty() {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let mut mean = vec![0.0; test.labels.len()];
    for model in models {
        for (sum, score) in mean.iter_mut().zip(scoring::scores(model, test)) {
            *sum += score;
        }
    }
    let count = models.len() as f64;
    mean.iter_mut().for_each(|sum| *sum /= count);
    let seconds = started.elapsed().as_secs_f64();
    let evaluation =
        serde_json::to_value(scoring::evaluate(served, &mean, test, None, None, settings))?;
    Ok(Some((seconds, evaluation)))
}

fn print_fold(result: &FoldResult) {
    print_evaluation(
        &format!("fold {}", result.fold),
        &result.evaluation,
        &result.run_id,
    );
    if let Some(ensemble) = &result.ensemble {
        print_evaluation(
            &format!(
                "fold {} ensemble of {} ({:.3} s to score vs {:.3} s)",
                result.fold, ensemble.models, ensemble.ensemble_seconds, ensemble.served_seconds
            ),
            &ensemble.evaluation,
            &result.run_id,
        );
    }
}

fn print_evaluation(what: &str, e: &Value, run_id: &str) {
    let n = |pointer: &str| number(e, pointer);
    println!(
        "{what}: roc_auc {:.4} [{:.4}, {:.4}]  sensitivity@specificity>={} {:.4} [{:.4}, {:.4}]  \
         patient accuracy {:.4} [{:.4}, {:.4}]  (run {run_id})",
        n("/recordings/roc_auc"),
        n("/intervals/roc_auc/low"),
        n("/intervals/roc_auc/high"),
        n("/target_specificity"),
        n("/sensitivity_at_target_specificity"),
        n("/intervals/sensitivity_at_target_specificity/low"),
        n("/intervals/sensitivity_at_target_specificity/high"),
        n("/patients/accuracy"),
        n("/intervals/patient_accuracy/low"),
        n("/intervals/patient_accuracy/high"),
    );
}

fn print_summary(report: &CvReport) {
    println!(
        "\n{}-fold cross-validation (mean +/- sd over folds):",
        report.folds
    );
    for s in &report.summary {
        let folds: Vec<String> = s.per_fold.iter().map(|v| format!("{v:.4}")).collect();
        println!(
            "  {:<36} {:.4} +/- {:.4}   [{}]",
            s.metric,
            s.mean,
            s.sd,
            folds.join(", ")
        );
    }
    println!("written to cv/cv.json; parent run {}", report.parent_run_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(index: usize, ensemble: bool) -> FoldResult {
        let evaluation = serde_json::json!({"recordings": {"roc_auc": 0.9 + index as f64 / 100.0}});
        let json = serde_json::json!({
            "fold": index,
            "run_id": format!("run-{index}"),
            "evaluation": evaluation,
        });
        let mut result: FoldResult = serde_json::from_value(json).unwrap();
        if ensemble {
            result.ensemble = Some(Ensemble {
                models: 5,
                served_seconds: 0.1,
                ensemble_seconds: 0.5,
                evaluation: serde_json::json!({"recordings": {"roc_auc": 0.5}}),
            });
        }
        result
    }

    #[test]
    fn folds_published_before_the_ensemble_still_gather_without_it() {
        // A fold.json written before the candidate existed has no `ensemble`: it reads, and
        // the summary then has the served model's figures only.
        let old = fold(1, false);
        assert!(old.ensemble.is_none());
        let metrics = |results: &[FoldResult]| -> Vec<String> {
            summarise(results).into_iter().map(|s| s.metric).collect()
        };
        let mixed = metrics(&[old, fold(2, true)]);
        assert_eq!(mixed.len(), FIGURES.len());
        assert!(!mixed.iter().any(|m| m.starts_with("ensemble_")));
        let all = summarise(&[fold(1, true), fold(2, true)]);
        assert_eq!(all.len(), 2 * FIGURES.len());
        let roc = all.iter().find(|s| s.metric == "ensemble_roc_auc").unwrap();
        assert_eq!(roc.per_fold, vec![0.5, 0.5]);
        let served = all.iter().find(|s| s.metric == "roc_auc").unwrap();
        assert_eq!(served.per_fold, vec![0.91, 0.92]);
        // Written back, a fold without the candidate stays without the field.
        let text = serde_json::to_string(&fold(3, false)).unwrap();
        assert!(!text.contains("ensemble"), "{text}");
    }

    #[test]
    fn mean_and_sample_sd() {
        let (mean, sd) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(mean_sd(&[1.0]).1.is_nan());
    }
}
