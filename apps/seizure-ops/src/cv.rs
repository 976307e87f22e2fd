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

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use eeg_data::prepare::{prepare, PrepareOptions, SplitOptions};
use eeg_data::processed::{Fold, ProcessedDataset};
use evaluate::scoring::{self, IntervalSettings, ModelEvaluation, TestSet};
use seizure_model::Predictor;
use serde::Serialize;
use service_flags::DvcArgs;
use tracking::{Metric, RunStatus};

use crate::pipeline::{announce_tracking, raw_csv, tracking, PipelineArgs};
use crate::Home;

#[derive(Debug, Clone, Args)]
pub struct CvArgs {
    /// Number of folds (each segment is tested exactly once).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
}

/// One figure over the folds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub metric: &'static str,
    pub per_fold: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (n - 1).
    pub sd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FoldResult {
    pub fold: usize,
    pub run_id: String,
    pub evaluation: ModelEvaluation,
}

#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub source_csv: String,
    pub parent_run_id: String,
    pub summary: Vec<Summary>,
    pub fold_results: Vec<FoldResult>,
}

/// The figures summarised over folds.
fn figures(e: &ModelEvaluation) -> [(&'static str, f64); 8] {
    [
        ("roc_auc", e.recordings.roc_auc),
        ("pr_auc", e.recordings.pr_auc),
        (
            "sensitivity_at_target_specificity",
            e.sensitivity_at_target_specificity,
        ),
        ("accuracy", e.recordings.accuracy),
        ("specificity", e.recordings.specificity),
        ("patient_accuracy", e.patients.accuracy),
        ("brier", e.calibration.brier),
        (
            "expected_calibration_error",
            e.calibration.expected_calibration_error,
        ),
    ]
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

pub fn summarise(results: &[FoldResult]) -> Vec<Summary> {
    let names = results
        .first()
        .map(|r| figures(&r.evaluation).map(|(name, _)| name).to_vec())
        .unwrap_or_default();
    names
        .into_iter()
        .enumerate()
        .map(|(i, metric)| {
            let per_fold: Vec<f64> = results
                .iter()
                .map(|r| figures(&r.evaluation)[i].1)
                .collect();
            let (mean, sd) = mean_sd(&per_fold);
            Summary {
                metric,
                per_fold,
                mean,
                sd,
            }
        })
        .collect()
}

pub fn run_cv(home: &Home, pipeline: &PipelineArgs, args: &CvArgs) -> anyhow::Result<CvReport> {
    if !(2..=20).contains(&args.folds) {
        anyhow::bail!("--folds must be between 2 and 20");
    }
    let csv = raw_csv(home, pipeline)?;
    // The folds' intervals: evaluate's (confidence, draws, seed, target), from its
    // environment variables as the stage's own binary reads them.
    let policy = crate::from_env::<evaluate::PromotionFlags>()?.policy();
    policy.check()?;
    let settings = policy.interval_settings();
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
                &parent.run_id,
            );
            // Each fold as it ends (the lanes end in no fixed order; each line names its fold).
            if let Ok(result) = &result {
                print_fold(result);
            }
            result
        });
        let fold_results = runs.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
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
        tracker.log_metrics(&parent.run_id, &metrics)?;
        let report = CvReport {
            folds: args.folds,
            source_csv: csv.display().to_string(),
            parent_run_id: parent.run_id.clone(),
            summary,
            fold_results,
        };
        let path = home.path("cv/cv.json");
        fs_err::create_dir_all(home.path("cv"))?;
        artifact_store::atomic::write_file(
            &path,
            (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(report)
    })();
    tracker.finish_run(&parent.run_id, RunStatus::of(&result))?;
    let report = result?;
    print_summary(&report);
    Ok(report)
}

fn run_fold(
    home: &Home,
    pipeline: &PipelineArgs,
    csv: &std::path::Path,
    fold: Fold,
    threads: usize,
    settings: &IntervalSettings,
    parent_run_id: &str,
) -> anyhow::Result<FoldResult> {
    let dir: PathBuf = home.path(format!("cv/fold-{}", fold.index + 1));
    let no_dvc = DvcArgs {
        no_dvc: true,
        ..DvcArgs::default()
    };
    let preprocess: preprocessing::PreprocessArgs = crate::from_env()?;
    let mut options = PrepareOptions::new(csv.to_owned(), dir.join("data"));
    options.split = SplitOptions {
        fold: Some(fold),
        ..preprocessing::split_options(&preprocess)?
    };
    prepare(&options).with_context(|| format!("fold {}: preprocessing", fold.index + 1))?;
    let training = training::train_model(&training::TrainingArgs {
        dvc: no_dvc,
        threads: Some(threads),
        ..pipeline.training(home, dir.join("data"), dir.join("models"))?
    })
    .with_context(|| format!("fold {}: training", fold.index + 1))?;
    let tracker = tracking(home)?.open()?;
    let predictor = Predictor::load(&dir.join("models"))?;
    let dataset = ProcessedDataset::open(&dir.join("data"))?;
    let test = TestSet::load(&dataset)?;
    let scores = scoring::scores(&predictor, &test);
    let evaluation = scoring::evaluate(&predictor, &scores, &test, None, None, settings);
    tracker.set_tags(
        &training.run_id,
        &[
            ("mlflow.parentRunId".into(), parent_run_id.to_owned()),
            (
                "cv_fold".into(),
                format!("{}/{}", fold.index + 1, fold.count),
            ),
        ],
    )?;
    let metrics: Vec<Metric> = figures(&evaluation)
        .into_iter()
        .map(|(name, value)| Metric::now(&format!("test_{name}"), value, 0))
        .collect();
    tracker.log_metrics(&training.run_id, &metrics)?;
    Ok(FoldResult {
        fold: fold.index + 1,
        run_id: training.run_id,
        evaluation,
    })
}

fn print_fold(result: &FoldResult) {
    let e = &result.evaluation;
    let i = &e.intervals;
    println!(
        "fold {}: roc_auc {:.4} [{:.4}, {:.4}]  sensitivity@specificity>={} {:.4} [{:.4}, {:.4}]  \
         patient accuracy {:.4} [{:.4}, {:.4}]  (run {})",
        result.fold,
        e.recordings.roc_auc,
        i.roc_auc.low,
        i.roc_auc.high,
        e.target_specificity,
        e.sensitivity_at_target_specificity,
        i.sensitivity_at_target_specificity.low,
        i.sensitivity_at_target_specificity.high,
        e.patients.accuracy,
        i.patient_accuracy.low,
        i.patient_accuracy.high,
        result.run_id
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

    #[test]
    fn mean_and_sample_sd() {
        let (mean, sd) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(mean_sd(&[1.0]).1.is_nan());
    }
}
