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
mod logged;
pub mod metrics;
pub mod plots;
pub mod promotion;
pub mod registry;
mod report;
pub mod robustness;
pub mod scoring;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use artifact_store::dvc;
use clap::{Args, Parser, Subcommand};
use eeg_data::processed::ProcessedDataset;
use seizure_model::Predictor;
use serde::Serialize;
use tracking::{Tracker, PRODUCTION_ALIAS};

use crate::logged::log_evaluation;
pub use crate::promotion::{Decision, PrimaryMetric, PromotionPolicy, QualityFloor};
use crate::promotion::{Force, Scored};
use crate::registry::{AuditRecord, RegistryArgs};
use crate::report::{print_report, write_reports};
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
    /// The candidate on test windows at other offsets and under other recording conditions.
    pub robustness: robustness::Robustness,
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
    let offsets = match robustness::offset_windows(&dataset) {
        Ok(windows) => Some(windows),
        Err(e) => {
            warnings.push(format!("no quality at other offsets: {e:#}"));
            None
        }
    };
    let robustness = robustness::evaluate(
        &candidate,
        &robustness::RobustnessInputs {
            samples: &test.samples,
            labels: &test.labels,
            segments: &test.segments,
            aligned_scores: &candidate_scores,
            offsets: offsets.as_ref(),
        },
        candidate_eval.recordings.threshold,
        &candidate_eval.patient_call,
        settings.target_specificity,
        settings.seed,
    );
    let report = Report {
        data_md5: data_md5.clone(),
        test_recordings: test.labels.len(),
        test_patients: candidate_eval.patients.count,
        threshold: candidate_eval.recordings.threshold,
        threshold_source: candidate_eval.threshold_source,
        candidate: candidate_eval,
        production: production_scored.map(|(_, evaluation, _)| evaluation),
        decision,
        robustness,
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
