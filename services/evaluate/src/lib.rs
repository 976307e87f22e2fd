//! evaluate: scores a candidate model against production and promotes only a better one.
//!
//! `evaluate run` scores the candidate (and the current production model, if any) on the
//! held-out test split of the same data version, per recording and per patient (each segment's
//! recordings averaged), writes `metrics.json` and SVG plots, logs them to the tracker, and
//! promotes the candidate if there is no production model or it beats production on the
//! primary metric by more than the margin. `evaluate rollback` moves production back to the
//! version before.

pub mod metrics;
pub mod plots;
pub mod registry;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc;
use clap::{Args, Parser, Subcommand, ValueEnum};
use eeg_data::processed::{ProcessedDataset, Split};
use seizure_model::Predictor;
use serde::Serialize;
use tracking::{Metric, RunStatus, Tracker, PRODUCTION_ALIAS};

use crate::metrics::Metrics;
use crate::registry::{AuditRecord, RegistryArgs};

#[derive(Debug, Parser)]
#[command(
    name = "evaluate",
    version,
    about = "Evaluates and promotes seizure models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: telemetry::LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score the candidate against production; promote it only if it is better.
    Run(EvaluateArgs),
    /// Move production back to the version it replaced.
    Rollback(RegistryArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryMetric {
    RocAuc,
    PrAuc,
    F1,
    Accuracy,
    Sensitivity,
    PatientAccuracy,
}

impl PrimaryMetric {
    fn name(self) -> &'static str {
        match self {
            PrimaryMetric::RocAuc => "roc_auc",
            PrimaryMetric::PrAuc => "pr_auc",
            PrimaryMetric::F1 => "f1",
            PrimaryMetric::Accuracy => "accuracy",
            PrimaryMetric::Sensitivity => "sensitivity",
            PrimaryMetric::PatientAccuracy => "patient_accuracy",
        }
    }

    fn of(self, evaluation: &ModelEvaluation) -> f64 {
        let m = &evaluation.recordings;
        match self {
            PrimaryMetric::RocAuc => m.roc_auc,
            PrimaryMetric::PrAuc => m.pr_auc,
            PrimaryMetric::F1 => m.f1,
            PrimaryMetric::Accuracy => m.accuracy,
            PrimaryMetric::Sensitivity => m.sensitivity,
            PrimaryMetric::PatientAccuracy => evaluation.patients.accuracy,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// The candidate model artifact (written by training).
    #[arg(long, env = "MODELS_DIR", default_value = "models")]
    pub candidate: PathBuf,
    /// The processed dataset whose test split is scored.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data: PathBuf,
    /// Where metrics.json and the plots go (replaced atomically).
    #[arg(long, env = "REPORTS_DIR", default_value = "reports")]
    pub reports: PathBuf,
    #[arg(long, env = "PRIMARY_METRIC", value_enum, default_value_t = PrimaryMetric::RocAuc)]
    pub primary_metric: PrimaryMetric,
    /// The candidate must beat production's primary metric by more than this.
    #[arg(long, env = "PROMOTION_MARGIN", default_value_t = 0.0)]
    pub min_improvement: f64,
    /// Probability at or above which a recording (or patient) counts as a seizure.
    #[arg(long, env = "DECISION_THRESHOLD", default_value_t = 0.5)]
    pub threshold: f64,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// One model's scores on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEvaluation {
    pub run_id: Option<String>,
    pub version: Option<String>,
    pub training_data_md5: Option<String>,
    pub recordings: Metrics,
    /// Each segment's recordings averaged into one patient-level probability.
    pub patients: Metrics,
    /// Best recording-level sensitivity at a specificity of at least 0.98.
    pub sensitivity_at_specificity_98: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub promote: bool,
    pub primary_metric: &'static str,
    pub candidate_value: f64,
    pub production_value: Option<f64>,
    pub min_improvement: f64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub data_md5: String,
    pub test_recordings: usize,
    pub test_patients: usize,
    pub threshold: f64,
    pub candidate: ModelEvaluation,
    pub production: Option<ModelEvaluation>,
    pub decision: Decision,
    pub warnings: Vec<String>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let (report, promoted) = evaluate(&args)?;
            print_report(&report, promoted.as_ref());
            Ok(())
        }
        Command::Rollback(args) => {
            let record = registry::rollback(&args)?;
            println!(
                "rolled back {}: production is version {} again (was {})",
                record.model_name,
                record.to_version,
                record.from_version.as_deref().unwrap_or("-")
            );
            Ok(())
        }
    }
}

/// The test split's raw recordings, labels and segments.
struct TestSet {
    samples: Vec<f32>,
    labels: Vec<bool>,
    segments: Vec<u32>,
}

fn load_test_set(dataset: &ProcessedDataset) -> anyhow::Result<TestSet> {
    let arrays = dataset.split(Split::Test)?;
    let raw = dataset.raw(Split::Test)?;
    if arrays.rows() == 0 {
        bail!("{}: the test split is empty", dataset.dir.display());
    }
    Ok(TestSet {
        samples: raw.iter().copied().collect(),
        labels: arrays.y.iter().map(|&y| y == 1).collect(),
        segments: arrays.segment.to_vec(),
    })
}

/// Scores a model on the test set; returns its evaluation and the per-recording scores.
fn score(
    predictor: &Predictor,
    test: &TestSet,
    threshold: f64,
    version: Option<String>,
) -> (ModelEvaluation, Vec<f64>) {
    let scores: Vec<f64> = predictor
        .predict(&test.samples)
        .into_iter()
        .map(f64::from)
        .collect();
    let (_, patient_scores, patient_labels) =
        metrics::per_group(&scores, &test.labels, &test.segments);
    let card = predictor.card();
    let evaluation = ModelEvaluation {
        run_id: card.run_id.clone(),
        version,
        training_data_md5: card.training_data_md5.clone(),
        recordings: metrics::compute(&scores, &test.labels, threshold),
        patients: metrics::compute(&patient_scores, &patient_labels, threshold),
        sensitivity_at_specificity_98: metrics::sensitivity_at_specificity(
            &scores,
            &test.labels,
            0.98,
        ),
    };
    (evaluation, scores)
}

pub fn decide(
    metric: PrimaryMetric,
    candidate: &ModelEvaluation,
    production: Option<&ModelEvaluation>,
    min_improvement: f64,
) -> Decision {
    let candidate_value = metric.of(candidate);
    let production_value = production.map(|p| metric.of(p));
    let (promote, reason) = match production_value {
        _ if candidate_value.is_nan() => (
            false,
            format!(
                "the candidate's {} is undefined on this test split",
                metric.name()
            ),
        ),
        None => (true, "there is no production model".to_owned()),
        Some(current) if current.is_nan() || candidate_value > current + min_improvement => (
            true,
            format!(
                "candidate {} {candidate_value:.6} beats production {current:.6} by more than {min_improvement}",
                metric.name()
            ),
        ),
        Some(current) => (
            false,
            format!(
                "candidate {} {candidate_value:.6} does not beat production {current:.6} by more than {min_improvement}",
                metric.name()
            ),
        ),
    };
    Decision {
        promote,
        primary_metric: metric.name(),
        candidate_value,
        production_value,
        min_improvement,
        reason,
    }
}

/// The current production model: `production/` if installed, else the registry alias.
fn load_production(
    args: &RegistryArgs,
    tracker: &dyn Tracker,
    scratch: &Path,
) -> anyhow::Result<Option<(Predictor, Option<String>)>> {
    if let Some(release) = registry::installed_release(&args.production)? {
        let predictor = Predictor::load(&args.production).with_context(|| {
            format!(
                "the production model in {} does not load",
                args.production.display()
            )
        })?;
        return Ok(Some((predictor, Some(release.version))));
    }
    match tracker.alias(&args.model_name, PRODUCTION_ALIAS)? {
        Some(version) => {
            tracker.download_version(&version, scratch)?;
            Ok(Some((Predictor::load(scratch)?, Some(version.version))))
        }
        None => Ok(None),
    }
}

/// Evaluates the candidate and promotes it if it is better. Returns the report and, when the
/// candidate was promoted, the audit record.
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<(Report, Option<AuditRecord>)> {
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("--threshold must be between 0 and 1");
    }
    args.registry.dvc.fetch(&args.data)?;
    args.registry.dvc.fetch(&args.candidate)?;
    let candidate = Predictor::load(&args.candidate).with_context(|| {
        format!(
            "cannot load the candidate model {}",
            args.candidate.display()
        )
    })?;
    let dataset = ProcessedDataset::open(&args.data)
        .with_context(|| format!("cannot open the processed dataset {}", args.data.display()))?;
    let data_md5 = dvc::hash_dir(&args.data)?.md5;
    if candidate.card().training_data_md5.as_deref() != Some(data_md5.as_str()) {
        bail!(
            "the candidate was trained on data {} but {} is version {data_md5}: \
             evaluate a model on the data version it was trained on",
            candidate
                .card()
                .training_data_md5
                .as_deref()
                .unwrap_or("(unknown)"),
            args.data.display()
        );
    }
    let test = load_test_set(&dataset)?;
    let tracker = args.registry.tracking.open()?;
    let scratch = tempfile::tempdir()?;
    let production = load_production(&args.registry, tracker.as_ref(), scratch.path())?;

    let (candidate_eval, candidate_scores) = score(&candidate, &test, args.threshold, None);
    let production_eval = production
        .as_ref()
        .map(|(predictor, version)| score(predictor, &test, args.threshold, version.clone()).0);
    let mut warnings = Vec::new();
    if let Some(p) = &production_eval {
        if p.training_data_md5.as_deref() != Some(data_md5.as_str()) {
            warnings.push(format!(
                "production was trained on data {}, not {data_md5}: its split may overlap this test split",
                p.training_data_md5.as_deref().unwrap_or("(unknown)")
            ));
        }
    }
    let decision = decide(
        args.primary_metric,
        &candidate_eval,
        production_eval.as_ref(),
        args.min_improvement,
    );
    let report = Report {
        data_md5: data_md5.clone(),
        test_recordings: test.labels.len(),
        test_patients: candidate_eval.patients.count,
        threshold: args.threshold,
        candidate: candidate_eval,
        production: production_eval,
        decision,
        warnings,
    };
    write_reports(&args.reports, &report, &candidate_scores, &test.labels)?;
    log_evaluation(
        tracker.as_ref(),
        &args.registry.tracking.experiment,
        &report,
        &args.reports,
    )?;
    let promoted = if report.decision.promote {
        Some(promote(args, tracker.as_ref(), &candidate, &report)?)
    } else {
        None
    };
    Ok((report, promoted))
}

/// metrics.json and the candidate's ROC, PR and confusion-matrix plots.
fn write_reports(
    dir: &Path,
    report: &Report,
    scores: &[f64],
    labels: &[bool],
) -> anyhow::Result<()> {
    let m = &report.candidate.recordings;
    atomic::replace_dir(dir, |staging| -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(report)? + "\n";
        std::fs::write(staging.join("metrics.json"), json)?;
        std::fs::write(
            staging.join("roc.svg"),
            plots::curve(
                "ROC curve (test recordings)",
                "false positive rate",
                "true positive rate",
                &metrics::roc_curve(scores, labels),
                true,
                &format!("AUC {:.4}", m.roc_auc),
            ),
        )?;
        std::fs::write(
            staging.join("pr.svg"),
            plots::curve(
                "Precision-recall curve (test recordings)",
                "recall",
                "precision",
                &metrics::pr_curve(scores, labels),
                false,
                &format!("AP {:.4}", m.pr_auc),
            ),
        )?;
        std::fs::write(
            staging.join("confusion.svg"),
            plots::confusion_matrix(
                &format!("Confusion matrix (threshold {})", report.threshold),
                &m.confusion,
            ),
        )?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", dir.display()))
}

fn evaluation_metrics(prefix: &str, e: &ModelEvaluation) -> Vec<Metric> {
    let (r, p) = (&e.recordings, &e.patients);
    [
        ("accuracy", r.accuracy),
        ("sensitivity", r.sensitivity),
        ("specificity", r.specificity),
        ("precision", r.precision),
        ("f1", r.f1),
        ("roc_auc", r.roc_auc),
        ("pr_auc", r.pr_auc),
        (
            "sensitivity_at_specificity_98",
            e.sensitivity_at_specificity_98,
        ),
        ("patient_accuracy", p.accuracy),
        ("patient_sensitivity", p.sensitivity),
        ("patient_specificity", p.specificity),
        ("patient_roc_auc", p.roc_auc),
    ]
    .into_iter()
    .map(|(key, value)| Metric::now(&format!("{prefix}{key}"), value, 0))
    .collect()
}

fn log_evaluation(
    tracker: &dyn Tracker,
    experiment: &str,
    report: &Report,
    reports_dir: &Path,
) -> anyhow::Result<()> {
    let run = tracker.create_run(experiment, "evaluation")?;
    let result = (|| -> anyhow::Result<()> {
        let mut params = vec![
            ("data_md5".to_owned(), report.data_md5.clone()),
            ("threshold".to_owned(), report.threshold.to_string()),
            (
                "primary_metric".to_owned(),
                report.decision.primary_metric.to_owned(),
            ),
            (
                "min_improvement".to_owned(),
                report.decision.min_improvement.to_string(),
            ),
        ];
        if let Some(run_id) = &report.candidate.run_id {
            params.push(("candidate_run_id".into(), run_id.clone()));
        }
        if let Some(version) = report.production.as_ref().and_then(|p| p.version.clone()) {
            params.push(("production_version".into(), version));
        }
        tracker.log_params(&run.run_id, &params)?;
        let mut metrics = evaluation_metrics("test_", &report.candidate);
        if let Some(production) = &report.production {
            metrics.extend(evaluation_metrics("production_test_", production));
        }
        tracker.log_metrics(&run.run_id, &metrics)?;
        tracker.log_artifacts(&run.run_id, reports_dir, "evaluation")?;
        tracker.set_tags(
            &run.run_id,
            &[("promoted".into(), report.decision.promote.to_string())],
        )?;
        Ok(())
    })();
    let status = if result.is_ok() {
        RunStatus::Finished
    } else {
        RunStatus::Failed
    };
    tracker.finish_run(&run.run_id, status)?;
    result
}

fn promote(
    args: &EvaluateArgs,
    tracker: &dyn Tracker,
    candidate: &Predictor,
    report: &Report,
) -> anyhow::Result<AuditRecord> {
    let registry = &args.registry;
    let Some(run_id) = candidate.card().run_id.clone() else {
        bail!("the candidate's model card names no training run, so it cannot be registered");
    };
    let version = tracker
        .register_version(&registry.model_name, &run_id, "model")
        .with_context(|| {
            format!(
                "cannot register run {run_id} in the {} tracker",
                tracker.kind()
            )
        })?;
    // Install what the registry now holds, after checking it is the model just evaluated.
    let registered = tempfile::tempdir()?;
    tracker.download_version(&version, registered.path())?;
    let logged = seizure_model::artifact::read_card(registered.path())?;
    if logged.weights_md5 != candidate.card().weights_md5 {
        bail!(
            "{} is not the model run {run_id} logged (weights md5 {} here, {} in the run); \
             version {} was registered but not promoted",
            args.candidate.display(),
            candidate.card().weights_md5,
            logged.weights_md5,
            version.version
        );
    }
    let previous = report.production.as_ref().and_then(|p| p.version.clone());
    registry::install(registry, tracker, &version, |dir| {
        registry::copy_files(registered.path(), dir)
    })?;
    let record = AuditRecord {
        timestamp: registry::now_rfc3339(),
        action: "promote".into(),
        actor: registry::actor(),
        model_name: registry.model_name.clone(),
        from_version: previous,
        to_version: version.version.clone(),
        run_id,
        data_md5: Some(report.data_md5.clone()),
        primary_metric: Some(report.decision.primary_metric.into()),
        candidate_value: Some(report.decision.candidate_value),
        production_value: report.decision.production_value,
        reason: report.decision.reason.clone(),
    };
    registry::append_audit(&registry.audit_log, &record)?;
    Ok(record)
}

fn print_report(report: &Report, promoted: Option<&AuditRecord>) {
    let line = |name: &str, e: &ModelEvaluation| {
        let (r, p) = (&e.recordings, &e.patients);
        println!(
            "{name:<11} roc_auc {:.4}  pr_auc {:.4}  accuracy {:.4}  sensitivity {:.4}  specificity {:.4}  \
             sens@spec0.98 {:.4}  patients: accuracy {:.4} ({} of {})",
            r.roc_auc,
            r.pr_auc,
            r.accuracy,
            r.sensitivity,
            r.specificity,
            e.sensitivity_at_specificity_98,
            p.accuracy,
            p.confusion.true_positive + p.confusion.true_negative,
            p.count
        );
    };
    println!(
        "test split of data {}: {} recordings, {} patients",
        report.data_md5, report.test_recordings, report.test_patients
    );
    line("candidate", &report.candidate);
    if let Some(production) = &report.production {
        line(
            &format!(
                "production{}",
                production
                    .version
                    .as_deref()
                    .map(|v| format!(" v{v}"))
                    .unwrap_or_default()
            ),
            production,
        );
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    match promoted {
        Some(record) => println!(
            "promoted {} version {} to production ({})",
            record.model_name, record.to_version, report.decision.reason
        ),
        None => println!("not promoted: {}; nothing changed", report.decision.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Confusion;

    fn evaluation(roc_auc: f64) -> ModelEvaluation {
        let m = Metrics {
            count: 10,
            positives: 2,
            threshold: 0.5,
            accuracy: 0.9,
            sensitivity: 1.0,
            specificity: 0.875,
            precision: 0.67,
            f1: 0.8,
            roc_auc,
            pr_auc: 0.9,
            confusion: Confusion::default(),
        };
        ModelEvaluation {
            run_id: None,
            version: None,
            training_data_md5: None,
            recordings: m.clone(),
            patients: m,
            sensitivity_at_specificity_98: 0.9,
        }
    }

    #[test]
    fn promotes_without_production_or_when_better_by_the_margin() {
        let first = decide(PrimaryMetric::RocAuc, &evaluation(0.9), None, 0.0);
        assert!(first.promote);
        assert_eq!(first.reason, "there is no production model");
        let better = decide(
            PrimaryMetric::RocAuc,
            &evaluation(0.99),
            Some(&evaluation(0.98)),
            0.005,
        );
        assert!(better.promote, "{}", better.reason);
        let not_enough = decide(
            PrimaryMetric::RocAuc,
            &evaluation(0.99),
            Some(&evaluation(0.988)),
            0.005,
        );
        assert!(!not_enough.promote);
        assert!(
            not_enough.reason.contains("does not beat"),
            "{}",
            not_enough.reason
        );
        let equal = decide(
            PrimaryMetric::RocAuc,
            &evaluation(0.99),
            Some(&evaluation(0.99)),
            0.0,
        );
        assert!(!equal.promote, "a tie is not an improvement");
        let undefined = decide(
            PrimaryMetric::RocAuc,
            &evaluation(f64::NAN),
            Some(&evaluation(0.5)),
            0.0,
        );
        assert!(!undefined.promote);
        let diverged_first = decide(PrimaryMetric::RocAuc, &evaluation(f64::NAN), None, 0.0);
        assert!(
            !diverged_first.promote,
            "a NaN model never becomes production"
        );
    }
}
