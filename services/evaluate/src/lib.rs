//! evaluate: scores a candidate model against production and promotes only a better one.
//!
//! `evaluate run` scores the candidate (and the current production model, if any) on the
//! held-out test split of the same data version, per recording and per patient (each segment's
//! recordings averaged), writes `metrics.json` and SVG plots, logs them to the tracker, and
//! promotes the candidate if there is no production model or it beats production on the
//! primary metric by more than the margin. `evaluate rollback` moves production back to the
//! version before.

pub mod calibration;
pub mod intervals;
pub mod metrics;
pub mod plots;
pub mod promotion;
pub mod registry;
pub mod scoring;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::atomic;
use artifact_store::dvc;
use clap::{Args, Parser, Subcommand};
use eeg_data::processed::ProcessedDataset;
use seizure_model::Predictor;
use serde::Serialize;
use tracking::{Metric, RunStatus, Tracker, PRODUCTION_ALIAS};

pub use crate::promotion::{Decision, PrimaryMetric, PromotionPolicy, QualityFloor};
use crate::promotion::{Force, Scored};
use crate::registry::{AuditRecord, RegistryArgs};
pub use crate::scoring::ModelEvaluation;
use crate::scoring::{IntervalSettings, TestSet};

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
    #[command(flatten)]
    pub policy: PromotionPolicy,
    /// Overrides the decision threshold of the model cards (each model is otherwise scored at
    /// the threshold training chose for it on validation, the one inference serves with).
    #[arg(long, env = "DECISION_THRESHOLD")]
    pub threshold: Option<f64>,
    /// Promote even if the candidate is not shown better than production (never below the
    /// quality floor, never a non-finite model). Needs --force-reason; recorded as forced,
    /// with who (PROMOTED_BY) and why, in the audit log and the tracker.
    #[arg(long, requires = "force_reason")]
    pub force: bool,
    /// Why the promotion is forced (required with --force).
    #[arg(long, requires = "force")]
    pub force_reason: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub data_md5: String,
    pub test_recordings: usize,
    pub test_patients: usize,
    /// The candidate's decision threshold (the one inference would serve it with).
    pub threshold: f64,
    pub threshold_source: &'static str,
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
    if args.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        bail!("--threshold must be between 0 and 1");
    }
    args.policy.check()?;
    let force = match (args.force, &args.force_reason) {
        (true, Some(reason)) if !reason.trim().is_empty() => Some(Force {
            by: registry::actor(),
            reason: reason.trim().to_owned(),
        }),
        (true, _) => bail!("--force needs a non-empty --force-reason"),
        _ => None,
    };
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
    let test = TestSet::load(&dataset)?;
    let tracker = args.registry.tracking.open()?;
    let scratch = tempfile::tempdir()?;
    let production = load_production(&args.registry, tracker.as_ref(), scratch.path())?;

    let settings = IntervalSettings {
        confidence: args.policy.confidence,
        resamples: args.policy.resamples,
        seed: args.policy.seed,
        target_specificity: args.policy.floor.target_specificity,
    };
    let candidate_scores = scoring::scores(&candidate, &test);
    let candidate_eval = scoring::evaluate(
        &candidate,
        &candidate_scores,
        &test,
        args.threshold,
        None,
        &settings,
    );
    let production_scored = production.as_ref().map(|(predictor, version)| {
        let scores = scoring::scores(predictor, &test);
        let evaluation = scoring::evaluate(
            predictor,
            &scores,
            &test,
            args.threshold,
            version.clone(),
            &settings,
        );
        (scores, evaluation, predictor.card().metrics.clone())
    });
    let mut warnings = Vec::new();
    if let Some((_, p, _)) = &production_scored {
        if p.training_data_md5.as_deref() != Some(data_md5.as_str()) {
            warnings.push(format!(
                "production was trained on data {}, not {data_md5}: its split may overlap this test split",
                p.training_data_md5.as_deref().unwrap_or("(unknown)")
            ));
        }
    }
    let decision = promotion::decide(
        &args.policy,
        args.primary_metric,
        &Scored {
            evaluation: &candidate_eval,
            scores: &candidate_scores,
            card_metrics: &candidate.card().metrics,
        },
        production_scored
            .as_ref()
            .map(|(scores, evaluation, card_metrics)| Scored {
                evaluation,
                scores,
                card_metrics,
            })
            .as_ref(),
        &promotion::Split {
            labels: &test.labels,
            by_segment: &test.by_segment,
            data_md5: &data_md5,
        },
        force.as_ref(),
    );
    if decision.promote {
        tracing::info!(reason = %decision.reason, "promotion decision: promote");
    } else {
        tracing::info!(reason = %decision.reason, "promotion decision: keep production");
    }
    let report = Report {
        data_md5: data_md5.clone(),
        test_recordings: test.labels.len(),
        test_patients: candidate_eval.patients.count,
        threshold: candidate_eval.recordings.threshold,
        threshold_source: candidate_eval.threshold_source,
        candidate: candidate_eval,
        production: production_scored.map(|(_, evaluation, _)| evaluation),
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
        let calibration = &report.candidate.calibration;
        std::fs::write(
            staging.join("reliability.svg"),
            plots::curve(
                "Reliability diagram (test recordings)",
                "mean predicted probability",
                "observed seizure rate",
                &calibration.points(),
                true,
                &format!(
                    "Brier {:.4}, ECE {:.4}",
                    calibration.brier, calibration.expected_calibration_error
                ),
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
    let (r, p, i) = (&e.recordings, &e.patients, &e.intervals);
    [
        ("accuracy", r.accuracy),
        ("sensitivity", r.sensitivity),
        ("specificity", r.specificity),
        ("precision", r.precision),
        ("f1", r.f1),
        ("roc_auc", r.roc_auc),
        ("pr_auc", r.pr_auc),
        (
            "sensitivity_at_target_specificity",
            e.sensitivity_at_target_specificity,
        ),
        ("patient_accuracy", p.accuracy),
        ("patient_sensitivity", p.sensitivity),
        ("patient_specificity", p.specificity),
        ("patient_roc_auc", p.roc_auc),
        ("brier", e.calibration.brier),
        (
            "expected_calibration_error",
            e.calibration.expected_calibration_error,
        ),
        ("roc_auc_ci_low", i.roc_auc.low),
        ("roc_auc_ci_high", i.roc_auc.high),
        ("pr_auc_ci_low", i.pr_auc.low),
        ("pr_auc_ci_high", i.pr_auc.high),
        (
            "sensitivity_at_target_specificity_ci_low",
            i.sensitivity_at_target_specificity.low,
        ),
        (
            "sensitivity_at_target_specificity_ci_high",
            i.sensitivity_at_target_specificity.high,
        ),
        ("accuracy_ci_low", i.accuracy.low),
        ("accuracy_ci_high", i.accuracy.high),
        ("patient_accuracy_ci_low", i.patient_accuracy.low),
        ("patient_accuracy_ci_high", i.patient_accuracy.high),
        ("patient_sensitivity_ci_low", i.patient_sensitivity.low),
        ("patient_sensitivity_ci_high", i.patient_sensitivity.high),
        ("patient_specificity_ci_low", i.patient_specificity.low),
        ("patient_specificity_ci_high", i.patient_specificity.high),
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
                "threshold_source".to_owned(),
                report.threshold_source.to_owned(),
            ),
            (
                "primary_metric".to_owned(),
                report.decision.primary_metric.to_owned(),
            ),
            (
                "min_improvement".to_owned(),
                report.decision.min_improvement.to_string(),
            ),
            (
                "confidence".to_owned(),
                report.candidate.intervals.confidence.to_string(),
            ),
            (
                "target_specificity".to_owned(),
                report.candidate.target_specificity.to_string(),
            ),
        ];
        for floor in &report.decision.floors {
            params.push((
                format!("floor {}", floor.metric).replace(['>', '='], ""),
                floor.floor.to_string(),
            ));
        }
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
        if let Some(c) = &report.decision.comparison {
            metrics.extend([
                Metric::now("difference", c.difference, 0),
                Metric::now("difference_ci_low", c.interval.low, 0),
                Metric::now("difference_ci_high", c.interval.high, 0),
                Metric::now("difference_lower_bound", c.lower_bound, 0),
            ]);
        }
        tracker.log_metrics(&run.run_id, &metrics)?;
        tracker.log_artifacts(&run.run_id, reports_dir, "evaluation")?;
        tracker.set_tags(
            &run.run_id,
            &[
                ("promoted".into(), report.decision.promote.to_string()),
                ("decision".into(), report.decision.reason.clone()),
                (
                    "forced".into(),
                    report.decision.forced.is_some().to_string(),
                ),
            ],
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
        forced: report.decision.forced.is_some(),
        force_reason: report.decision.forced.as_ref().map(|f| f.reason.clone()),
    };
    registry::append_audit(&registry.audit_log, &record)?;
    Ok(record)
}

fn print_report(report: &Report, promoted: Option<&AuditRecord>) {
    let line = |name: &str, e: &ModelEvaluation| {
        let (r, p, i) = (&e.recordings, &e.patients, &e.intervals);
        let ci =
            |interval: &intervals::Interval| format!("[{:.4}, {:.4}]", interval.low, interval.high);
        println!(
            "{name}: roc_auc {:.4} {}  pr_auc {:.4} {}  sensitivity@specificity>={} {:.4} {}  \
             patient accuracy {:.4} {} ({} of {})",
            r.roc_auc,
            ci(&i.roc_auc),
            r.pr_auc,
            ci(&i.pr_auc),
            e.target_specificity,
            e.sensitivity_at_target_specificity,
            ci(&i.sensitivity_at_target_specificity),
            p.accuracy,
            ci(&i.patient_accuracy),
            p.confusion.true_positive + p.confusion.true_negative,
            p.count
        );
        println!(
            "{:width$}  at threshold {:.6} ({}): accuracy {:.4} {}  sensitivity {:.4}  specificity {:.4}",
            "",
            r.threshold,
            e.threshold_source,
            r.accuracy,
            ci(&i.accuracy),
            r.sensitivity,
            r.specificity,
            width = name.len()
        );
        println!(
            "{:width$}  calibration: Brier {:.4}, expected calibration error {:.4}",
            "",
            e.calibration.brier,
            e.calibration.expected_calibration_error,
            width = name.len()
        );
    };
    println!(
        "test split of data {}: {} recordings, {} patients; intervals at {:.0}%",
        report.data_md5,
        report.test_recordings,
        report.test_patients,
        report.candidate.intervals.confidence * 100.0
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
    for floor in &report.decision.floors {
        println!(
            "floor: {} {:.4} >= {}: {}",
            floor.metric,
            floor.value,
            floor.floor,
            if floor.passed { "passed" } else { "FAILED" }
        );
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    match promoted {
        Some(record) => println!(
            "promoted {} version {} to production: {}",
            record.model_name, record.to_version, report.decision.reason
        ),
        None => println!("not promoted: {}; nothing changed", report.decision.reason),
    }
}
